"""Keep glibc's allocator from growing a long export's memory.

glibc serves a large allocation with its own ``mmap`` at first, and each time
such a block is freed it raises the size above which it does so, up to 32
MiB. After a few results of a MiB have come and gone, every result lives in
the heap, whose free space fragments and is kept: a coordinator's peak
resident memory then grows with the length of the export (measured in
docs/benchmarks.md: 55 MiB after a million rows, 67 MiB after ten million),
though Python holds no more (tracemalloc stays flat).

Fixing the threshold turns that adjustment off. At 4 MiB, results (up to a
few MiB) still come from the heap, which is fast, and the heap's top is given
back as it frees; a fixed 128 KiB threshold also stops the growth but maps
and zeroes every result afresh, which cost a third of the 1 MiB transport
throughput here.

glibc also gives threads heaps ("arenas") of their own, up to eight per
core, and a result read in one thread (a Redis design reads them in Trio's
worker threads) and freed in another leaves free space in a heap that only
its own thread reuses. With the threshold fixed, Redis Streams and Lists
coordinators still grew by 6-14% from a million rows to ten million; with
one arena they stayed within 3% (docs/benchmarks.md), and the 2-worker NNG
export was no slower. Python's own lock already serialises most
allocations, so one heap costs little.

The command line applies both to its own process; a program that embeds
nngexport decides for itself (:func:`fix_mmap_threshold` and
:func:`limit_arenas`, or the environment variables
``MALLOC_MMAP_THRESHOLD_=4194304`` and ``MALLOC_ARENA_MAX=1``).
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["ARENAS", "MMAP_THRESHOLD", "fix_mmap_threshold", "limit_arenas"]

#: Bytes from which glibc maps an allocation on its own.
MMAP_THRESHOLD = 4 * 1024 * 1024
# mallopt's parameter number for it, from glibc's <malloc.h>.
_M_MMAP_THRESHOLD = -3
_THRESHOLD_ENVIRONMENT = "MALLOC_MMAP_THRESHOLD_"
#: Heaps glibc may keep for the threads of this process.
ARENAS = 1
# mallopt's parameter number for that, from glibc's <malloc.h>.
_M_ARENA_MAX = -8
_ARENA_ENVIRONMENT = "MALLOC_ARENA_MAX"


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes for this process.

    Returns whether it was set: False off Linux, with a C library that has no
    ``mallopt`` or refuses it, and when ``MALLOC_MMAP_THRESHOLD_`` is in the
    environment (the user chose already, and glibc read it at start-up).
    """
    return _mallopt(_M_MMAP_THRESHOLD, threshold, _THRESHOLD_ENVIRONMENT)


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Let glibc keep at most ``arenas`` heaps for this process's threads.

    Call it before starting threads: a thread keeps the heap it was given.
    Returns whether it was set, on the same terms as
    :func:`fix_mmap_threshold` (with ``MALLOC_ARENA_MAX``).
    """
    return _mallopt(_M_ARENA_MAX, arenas, _ARENA_ENVIRONMENT)


def _mallopt(parameter: int, value: int, environment: str) -> bool:
    if not sys.platform.startswith("linux") or environment in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(parameter, value))
