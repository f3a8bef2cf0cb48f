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

The command line applies this to its own process; a program that embeds
nngexport decides for itself (:func:`fix_mmap_threshold`, or the environment
variable ``MALLOC_MMAP_THRESHOLD_=4194304``).
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["MMAP_THRESHOLD", "fix_mmap_threshold"]

#: Bytes from which glibc maps an allocation on its own.
MMAP_THRESHOLD = 4 * 1024 * 1024
# mallopt's parameter number for it, from glibc's <malloc.h>.
_M_MMAP_THRESHOLD = -3
_ENVIRONMENT = "MALLOC_MMAP_THRESHOLD_"


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes for this process.

    Returns whether it was set: False off Linux, with a C library that has no
    ``mallopt`` or refuses it, and when ``MALLOC_MMAP_THRESHOLD_`` is in the
    environment (the user chose already, and glibc read it at start-up).
    """
    if not sys.platform.startswith("linux") or _ENVIRONMENT in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
