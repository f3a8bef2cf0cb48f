"""Defaults and choices that the command line offers and the code behind it uses.

They live here, apart from that code, so that building the command line's
parser imports nothing heavy: ``nngexport worker``, which every local worker
runs, then starts without importing the coordinator or the bench.
"""

from __future__ import annotations

#: Seconds an export waits for ``min_workers`` before giving up.
DISCOVER_TIMEOUT = 15.0
#: Seconds an export goes on with no live worker before it fails.
WORKER_TIMEOUT = 15.0
#: Attempts a chunk may have before a further loss or failure fails the export.
MAX_ATTEMPTS = 3
#: Key prefix of the Redis designs unless the caller picks another (two
#: exports at once on one Redis need two prefixes).
DEFAULT_PREFIX = "nngexport"

#: The designs a bench compares, the in-process reference first.
BENCH_DESIGNS = (
    "in-process",
    "nng-ipc",
    "nng-tcp",
    "redis-pubsub",
    "redis-streams",
    "redis-lists",
)
#: The workloads a bench knows.
WORKLOADS = ("realistic", "transport", "control", "sweep", "memory")
#: The faults a bench can inject.
BENCH_FAULTS = ("kill-worker",)
#: The lines between which ``bench --report`` replaces a file's text.
BENCH_BEGIN = "<!-- nngexport bench: begin -->"
BENCH_END = "<!-- nngexport bench: end -->"
