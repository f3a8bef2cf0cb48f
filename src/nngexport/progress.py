"""What an export reports while it runs and when it ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress event, sent each time chunks are written to the output, and
    when a recovery counter (``reissued``, ``duplicates``, ``workers_lost``)
    changes between writes.

    Attributes:
        chunks_done: Chunks written so far.
        chunks_total: Chunks in the plan.
        rows_done: Rows written so far.
        rows_total: Rows the plan expects.
        bytes_done: CSV bytes written so far, header included.
        elapsed: Seconds since the export started.
        workers: The most workers seen at once so far (0 in-process).
        reissued: Chunks sent again because their worker was lost, their
            lease expired, nobody acknowledged them, or they failed.
        duplicates: Results dropped because their chunk was already written.
        workers_lost: Times a worker was given up on.
    """

    chunks_done: int
    chunks_total: int
    rows_done: int
    rows_total: int
    bytes_done: int
    elapsed: float
    workers: int
    reissued: int = 0
    duplicates: int = 0
    workers_lost: int = 0

    @property
    def fraction(self) -> float:
        """Share of the planned rows written, from 0.0 to 1.0."""
        if self.rows_total <= 0:
            return self.chunks_done / max(self.chunks_total, 1)
        return min(self.rows_done / self.rows_total, 1.0)

    @property
    def rows_per_second(self) -> float:
        """Average rate since the start."""
        return self.rows_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the average rate so far, or None before any row."""
        rate = self.rows_per_second
        if rate <= 0:
            return None
        return max(self.rows_total - self.rows_done, 0) / rate


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """The result of a finished export.

    Attributes:
        output: The file written.
        rows: Data rows written (the header is not counted).
        bytes: Bytes in the file, header included.
        chunks: Chunks in the plan.
        seconds: Wall time from planning to the final rename.
        sha256: Hex SHA-256 of the file.
        workers: The most workers seen at once (0 for an in-process export).
        duplicates: Results dropped because their chunk was already written.
        reissued: Chunks sent again (see :class:`Progress`).
        workers_lost: Times a worker was given up on.
        recoveries: For each chunk sent again, seconds from the last sign of
            life of the worker that held it to the new send.
        dropped: Messages dropped on arrival during the export, by reason
            (``malformed``, ``unauthenticated``, ``stray``; see
            :mod:`nngexport.drops`).
        resumed_at: Chunks that were already in the file from an interrupted
            export (``--resume``); 0 for an export that ran in one go.
        latency_p50: Seconds from a chunk's first dispatch to its being
            written, median (an upper bound within about 5%; see
            :mod:`nngexport.latency`); None if no chunk was timed.
        latency_p99: The same, 99th percentile.
    """

    output: Path
    rows: int
    bytes: int
    chunks: int
    seconds: float
    sha256: str
    workers: int
    duplicates: int = 0
    reissued: int = 0
    workers_lost: int = 0
    recoveries: tuple[float, ...] = ()
    resumed_at: int = 0
    latency_p50: float | None = None
    latency_p99: float | None = None
    dropped: tuple[tuple[str, int], ...] = ()

    @property
    def rows_per_second(self) -> float:
        """Rows written per second of wall time."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytes_per_second(self) -> float:
        """Megabytes (10**6 bytes) written per second of wall time."""
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0
