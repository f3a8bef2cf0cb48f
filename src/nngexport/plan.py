"""Chunk planning: split a table's key space into ordered, disjoint key ranges.

A chunk is a half-open key range ``lo <= key < hi``; ``None`` means unbounded on
that side, so the first chunk starts at minus infinity and the last one ends at
plus infinity. Together the chunks of a plan cover every possible key exactly
once, which is what lets the coordinator promise that no row is lost or doubled
whatever the keys look like.

Boundaries are taken from the sorted keys themselves (every ``chunk_rows``-th
key), so chunks hold ``chunk_rows`` rows even when the keys have gaps, and
reading a chunk is a keyset query (``WHERE key >= ? AND key < ?``), never
``OFFSET``.

This module does no I/O: sources feed it their keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Rows per chunk when the caller does not say.
DEFAULT_CHUNK_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class Chunk:
    """One unit of work: the rows whose key lies in ``[lo, hi)``.

    Attributes:
        index: Position of this chunk's rows in the output, from 0.
        lo: Smallest key in the chunk, or ``None`` for no lower bound.
        hi: First key past the chunk, or ``None`` for no upper bound.
        rows: Rows the plan expects in the chunk (exact for a table that does
            not change during the export; used for progress only).
    """

    index: int
    lo: int | None
    hi: int | None
    rows: int

    def contains(self, key: int) -> bool:
        """Whether ``key`` falls in this chunk's range."""
        return (self.lo is None or self.lo <= key) and (
            self.hi is None or key < self.hi
        )


def check_chunk_rows(chunk_rows: int) -> int:
    """Return ``chunk_rows`` if it is a usable chunk size, else raise ValueError."""
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int):
        raise TypeError(f"chunk_rows must be an int, not {chunk_rows!r}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows!r}")
    return chunk_rows


def plan_from_keys(sorted_keys: Iterable[int], chunk_rows: int) -> list[Chunk]:
    """Plan chunks of ``chunk_rows`` rows from a table's keys in ascending order.

    Keys must be strictly increasing (a unique key); the caller guarantees it.
    Memory is proportional to the number of chunks, not of keys. An empty table
    gets one empty chunk so that the export still has a place for its header.
    """
    check_chunk_rows(chunk_rows)
    boundaries: list[int] = []
    total = 0
    for position, key in enumerate(sorted_keys):
        if position and position % chunk_rows == 0:
            boundaries.append(key)
        total = position + 1
    return _chunks_from_boundaries(boundaries, total, chunk_rows)


def plan_dense(total_rows: int, chunk_rows: int) -> list[Chunk]:
    """Plan chunks for the dense keys ``0 .. total_rows - 1`` without iterating."""
    check_chunk_rows(chunk_rows)
    if total_rows < 0:
        raise ValueError(f"total_rows must not be negative, got {total_rows!r}")
    boundaries = list(range(chunk_rows, total_rows, chunk_rows))
    return _chunks_from_boundaries(boundaries, total_rows, chunk_rows)


def chunks_between(boundaries: Sequence[int], rows: Sequence[int]) -> list[Chunk]:
    """Chunks split at ``boundaries`` (ascending), holding ``rows`` rows each.

    ``rows`` has one entry more than ``boundaries``: the first chunk is
    unbounded below, the last unbounded above.
    """
    if len(rows) != len(boundaries) + 1:
        raise ValueError(
            f"{len(boundaries)} boundaries make {len(boundaries) + 1} chunks,"
            f" but rows has {len(rows)} entries"
        )
    edges: list[int | None] = [None, *boundaries, None]
    return [
        Chunk(index, edges[index], edges[index + 1], count)
        for index, count in enumerate(rows)
    ]


def _chunks_from_boundaries(
    boundaries: list[int], total: int, chunk_rows: int
) -> list[Chunk]:
    rows = [
        max(min(chunk_rows, total - index * chunk_rows), 0)
        for index in range(len(boundaries) + 1)
    ]
    return chunks_between(boundaries, rows)
