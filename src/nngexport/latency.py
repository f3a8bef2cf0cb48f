"""Chunk latency, dispatch to written, in bounded memory.

An export may have millions of chunks, so latencies are not kept: each one
falls into one of :data:`BUCKETS` buckets spaced evenly on a log scale from
:data:`LOWEST` to :data:`HIGHEST` seconds, and a quantile is read back as
the upper edge of the bucket it falls in. With 400 buckets over those nine
decades an answer is at most about 5.3% above the true value, never below.
No I/O, no clock: callers pass the seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Latencies at or below this many seconds share the first bucket.
LOWEST = 1e-6
#: Latencies at or above this many seconds share the last bucket.
HIGHEST = 1e3
#: Buckets between LOWEST and HIGHEST.
BUCKETS = 400

_SCALE = BUCKETS / math.log(HIGHEST / LOWEST)


@dataclass(slots=True)
class LatencyHistogram:
    """Counts of latencies per log-spaced bucket; see the module docstring."""

    counts: list[int] = field(default_factory=lambda: [0] * (BUCKETS + 1))
    total: int = 0

    def add(self, seconds: float) -> None:
        """Count one latency of ``seconds``."""
        self.counts[_bucket(seconds)] += 1
        self.total += 1

    def quantile(self, q: float) -> float | None:
        """An upper bound on the ``q`` quantile (0 < q <= 1); None if empty."""
        if not 0 < q <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {q!r}")
        if not self.total:
            return None
        rank = math.ceil(q * self.total)
        seen = 0
        for bucket, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return _upper_edge(bucket)
        raise AssertionError("counts do not add up to total")


def _bucket(seconds: float) -> int:
    if seconds <= LOWEST:
        return 0
    if seconds >= HIGHEST:
        return BUCKETS
    return min(BUCKETS, math.ceil(math.log(seconds / LOWEST) * _SCALE))


def _upper_edge(bucket: int) -> float:
    return LOWEST * math.exp(bucket / _SCALE)
