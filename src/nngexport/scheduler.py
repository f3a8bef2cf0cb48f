"""Which chunk goes out next: the dispatch window, as a plain state machine.

Every chunk moves ``pending -> in flight -> settled``. The coordinator asks
:meth:`Scheduler.next_chunk` for work to send; the scheduler hands out pending
chunks lowest index first, but only while the chunk's index is less than
``written + window``, where ``written`` is how many chunks are already in the
file. That single rule bounds everything the coordinator holds: at most
``window`` chunks are in flight or waiting in the reorder buffer, however big
the export, and a slow chunk at the head stops new dispatch instead of letting
results pile up behind it.

The window is in chunks and follows the capacity the survey found (see
:func:`window_for`): enough to keep every worker slot busy with one chunk
queued behind it, so a worker never waits for a round trip.

Time is not read here; it is passed in, so tests can drive the scheduler with
any clock.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Chunks queued per worker slot beyond the one being rendered.
QUEUED_PER_SLOT = 1
#: The window never drops below this, so one worker still overlaps its chunks.
MIN_WINDOW = 2


def window_for(slots: int) -> int:
    """The dispatch window for workers with ``slots`` slots in total."""
    return max(MIN_WINDOW, slots * (1 + QUEUED_PER_SLOT))


@dataclass(frozen=True, slots=True)
class SchedulerStatistics:
    """A snapshot of the scheduler's counters."""

    total: int
    pending: int
    in_flight: int
    settled: int
    window: int


class Scheduler:
    """Hands out chunk indexes ``0 .. total - 1`` within a sliding window."""

    def __init__(self, total: int, *, window: int) -> None:
        if total < 0:
            raise ValueError(f"total must not be negative, got {total!r}")
        self._total = total
        self._window = _check_window(window)
        self._next_fresh = 0
        self._in_flight: dict[int, float] = {}
        self._settled = 0

    @property
    def window(self) -> int:
        """The number of chunks that may be in flight or buffered at once."""
        return self._window

    @window.setter
    def window(self, window: int) -> None:
        self._window = _check_window(window)

    @property
    def exhausted(self) -> bool:
        """Whether every chunk has been handed out at least once."""
        return self._next_fresh == self._total

    def next_chunk(self, *, written: int, now: float) -> int | None:
        """Take the next chunk to dispatch, or ``None`` if the window is full.

        ``written`` is how many chunks (a prefix) are already in the output.
        """
        if self._next_fresh >= self._total:
            return None
        if self._next_fresh >= written + self._window:
            return None
        index = self._next_fresh
        self._next_fresh += 1
        self._in_flight[index] = now
        return index

    def is_in_flight(self, index: int) -> bool:
        """Whether ``index`` was dispatched and has not been settled."""
        return index in self._in_flight

    def settle(self, index: int, *, now: float) -> float:
        """Mark ``index`` answered; return seconds since it was dispatched.

        Raises:
            KeyError: if ``index`` is not in flight.
        """
        sent = self._in_flight.pop(index)
        self._settled += 1
        return now - sent

    def statistics(self) -> SchedulerStatistics:
        """Counts of chunks in each state."""
        return SchedulerStatistics(
            total=self._total,
            pending=self._total - self._next_fresh,
            in_flight=len(self._in_flight),
            settled=self._settled,
            window=self._window,
        )


def _check_window(window: int) -> int:
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window!r}")
    return window
