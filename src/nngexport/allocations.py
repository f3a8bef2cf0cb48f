"""The coordinator's Python allocations over an export, from tracemalloc."""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import dataclass
from types import TracebackType

__all__ = ["AllocationTrace", "Traced"]


@dataclass(frozen=True, slots=True)
class Traced:
    """Bytes of Python memory allocated inside a traced block.

    Attributes:
        peak: The most it held at once.
        retained: What it still held at the end, after a garbage collection.
    """

    peak: int
    retained: int


class AllocationTrace:
    """Trace Python allocations within a ``with`` block, when ``enabled``.

    Only memory allocated inside the block is counted, by every thread; on
    leaving, :attr:`result` holds the figures. Tracing slows allocation
    several times, so a traced run is not a timed run.
    """

    def __init__(self, *, enabled: bool) -> None:
        self._enabled = enabled
        self.result: Traced | None = None

    def __enter__(self) -> AllocationTrace:
        if self._enabled:
            if tracemalloc.is_tracing():
                raise RuntimeError("tracemalloc is already tracing")
            gc.collect()
            tracemalloc.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._enabled:
            return
        del kind, error, traceback  # they would keep the block's frames alive
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self.result = Traced(peak=peak, retained=current)
