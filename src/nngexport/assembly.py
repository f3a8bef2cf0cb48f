"""Ordered assembly: turn chunks that arrive in any order into one ordered stream.

Workers finish chunks in whatever order they like; the file needs them in
index order. The :class:`Assembler` keeps the chunks that arrived early in a
buffer and releases the longest run that starts at the next index to write.

The buffer is bounded by the caller: the coordinator offers only chunks it
dispatched, and it never dispatches a chunk whose index is ``window`` or more
past the next one to write (see :mod:`nngexport.scheduler`), so at most
``window`` chunks wait here.

A second copy of a chunk that was already accepted (a late result, or one that
was re-issued) is dropped and counted, so every chunk is written exactly once.
No I/O happens here; the caller writes what :meth:`Assembler.add` returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.Enum):
    """What the assembler did with a chunk offered to it."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    OUT_OF_RANGE = "out of range"


@dataclass(frozen=True, slots=True)
class Offer:
    """The outcome of :meth:`Assembler.add`: the verdict, and bytes now ready."""

    verdict: Verdict
    ready: tuple[bytes | memoryview, ...] = ()


class Assembler:
    """Reorders the chunks ``0 .. total - 1`` into one run, each exactly once."""

    def __init__(self, total: int, *, start: int = 0) -> None:
        if total < 0:
            raise ValueError(f"total must not be negative, got {total!r}")
        if not 0 <= start <= total:
            raise ValueError(f"start must be in 0 .. {total}, got {start!r}")
        self._total = total
        # Chunks before ``start`` are in the file already (a resumed export).
        self._next = start
        self._early: dict[int, bytes | memoryview] = {}
        self.duplicates = 0

    @property
    def next_index(self) -> int:
        """The index of the next chunk to write; equals ``total`` when done."""
        return self._next

    @property
    def done(self) -> bool:
        """Whether every chunk has been released."""
        return self._next == self._total

    @property
    def buffered(self) -> int:
        """How many chunks arrived early and wait for their predecessors."""
        return len(self._early)

    @property
    def buffered_bytes(self) -> int:
        """How many bytes those early chunks hold."""
        return sum(map(len, self._early.values()))

    def has(self, index: int) -> bool:
        """Whether chunk ``index`` was already accepted."""
        return index < self._next or index in self._early

    def add(self, index: int, data: bytes | memoryview) -> Offer:
        """Offer chunk ``index``; return the verdict and what can be written now."""
        if not 0 <= index < self._total:
            return Offer(Verdict.OUT_OF_RANGE)
        if self.has(index):
            self.duplicates += 1
            return Offer(Verdict.DUPLICATE)
        if index != self._next:
            self._early[index] = data
            return Offer(Verdict.ACCEPTED)
        ready = [data]
        self._next += 1
        while self._next in self._early:
            ready.append(self._early.pop(self._next))
            self._next += 1
        return Offer(Verdict.ACCEPTED, tuple(ready))
