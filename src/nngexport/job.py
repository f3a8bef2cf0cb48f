"""What every design shares: the plan of an export, and the ordered output.

A design (in-process, NNG, later Redis) only moves chunk descriptors out and
rendered chunks back. Planning, rendering and ordered writing live here and in
the modules this one calls, so every design produces the same bytes.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

from .assembly import Assembler, Verdict
from .errors import SourceError
from .output import AtomicOutput
from .plan import Chunk
from .progress import ExportSummary, Progress
from .render import RenderedChunk, render_chunk, render_header
from .sources import open_source

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], object]


class RecoveryCounters(Protocol):
    """What a design that recovers from faults reports (see run.RunStatistics)."""

    @property
    def reissued(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def workers_lost(self) -> int: ...
    @property
    def recoveries(self) -> tuple[float, ...]: ...


@dataclass(frozen=True, slots=True)
class JobPlan:
    """An export, planned: which source, which columns, which chunks.

    Attributes:
        job: A random id; every message of this export carries it.
        source: The canonical source URL that workers open.
        columns: The column names, in output order.
        chunks: The chunks, in output order.
    """

    job: str
    source: str
    columns: tuple[str, ...]
    chunks: tuple[Chunk, ...]

    @property
    def rows(self) -> int:
        """Rows the plan expects."""
        return sum(chunk.rows for chunk in self.chunks)


def plan_job(source_url: str, chunk_rows: int) -> JobPlan:
    """Open the source, plan its chunks, close it. Blocks; may raise SourceError."""
    if (
        isinstance(chunk_rows, bool)
        or not isinstance(chunk_rows, int)
        or chunk_rows < 1
    ):
        raise SourceError(
            f"chunk size must be a positive number of rows, got {chunk_rows!r}"
        )
    source = open_source(source_url)
    try:
        chunks = source.plan(chunk_rows)
        return JobPlan(secrets.token_hex(8), source.url, source.columns, tuple(chunks))
    finally:
        source.close()


def render_from_url(source_url: str, chunk: Chunk) -> RenderedChunk:
    """Open the source, render one chunk, close it. Blocks; runs in a thread.

    Opening per chunk keeps sources thread-confined (SQLite connections are)
    and costs well under a millisecond next to rendering thousands of rows.
    """
    source = open_source(source_url)
    try:
        return render_chunk(source, chunk)
    finally:
        source.close()


class OrderedSink:
    """Writes chunks to the output in index order, each exactly once.

    The Trio shell around :class:`~nngexport.assembly.Assembler` and
    :class:`~nngexport.output.AtomicOutput`: designs call :meth:`deliver` with
    chunks in any order; this writes every run that became ready and reports
    progress.
    """

    def __init__(
        self,
        plan: JobPlan,
        output: AtomicOutput,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.plan = plan
        self._output = output
        self._assembler = Assembler(len(plan.chunks))
        self._on_progress = on_progress
        self._rows_of: dict[int, int] = {}
        self.rows_written = 0
        self.workers = 0
        #: Where recovery counters come from, for designs that recover.
        self.statistics: Callable[[], RecoveryCounters] | None = None
        self._started = trio.current_time()
        self.written_changed = trio.Event()

    @property
    def written(self) -> int:
        """How many chunks (a prefix of the plan) are in the output."""
        return self._assembler.next_index

    @property
    def done(self) -> bool:
        """Whether every chunk is in the output."""
        return self._assembler.done

    @property
    def duplicates(self) -> int:
        """Chunks offered again after they were accepted, and dropped."""
        return self._assembler.duplicates

    def has(self, index: int) -> bool:
        """Whether chunk ``index`` was already accepted."""
        return self._assembler.has(index)

    async def write_header(self) -> None:
        """Write the header line; call once, before any chunk."""
        await trio.to_thread.run_sync(
            self._output.write, render_header(self.plan.columns)
        )

    async def deliver(self, index: int, rows: int, data: bytes) -> Verdict:
        """Offer chunk ``index`` (``rows`` rows of CSV ``data``)."""
        offer = self._assembler.add(index, data)
        if offer.verdict is not Verdict.ACCEPTED:
            logger.debug("chunk %s dropped: %s", index, offer.verdict.value)
            return offer.verdict
        self._rows_of[index] = rows
        if offer.ready:
            first = self.written - len(offer.ready)
            for done in range(first, self.written):
                self.rows_written += self._rows_of.pop(done)
            await trio.to_thread.run_sync(self._output.write, b"".join(offer.ready))
            self.written_changed.set()
            self.written_changed = trio.Event()
            if self._on_progress is not None:
                self._on_progress(self.progress())
        return offer.verdict

    def progress(self) -> Progress:
        """A progress event for the current state."""
        counters = self.statistics() if self.statistics else None
        return Progress(
            reissued=counters.reissued if counters else 0,
            duplicates=counters.duplicates if counters else 0,
            workers_lost=counters.workers_lost if counters else 0,
            chunks_done=self.written,
            chunks_total=len(self.plan.chunks),
            rows_done=self.rows_written,
            rows_total=self.plan.rows,
            bytes_done=self._output.bytes_written,
            elapsed=trio.current_time() - self._started,
            workers=self.workers,
        )

    async def commit(self, *, started: float) -> ExportSummary:
        """Move the finished file into place and summarise the export."""
        if not self.done:
            raise AssertionError("commit before every chunk was written")
        await trio.to_thread.run_sync(self._output.commit)
        counters = self.statistics() if self.statistics else None
        return ExportSummary(
            reissued=counters.reissued if counters else 0,
            workers_lost=counters.workers_lost if counters else 0,
            recoveries=counters.recoveries if counters else (),
            output=self._output.path,
            rows=self.rows_written,
            bytes=self._output.bytes_written,
            chunks=len(self.plan.chunks),
            seconds=trio.current_time() - started,
            sha256=self._output.sha256,
            workers=self.workers,
            duplicates=counters.duplicates if counters else self.duplicates,
        )


async def open_output(path: str | os.PathLike[str]) -> AtomicOutput:
    """Create the temporary output file beside ``path`` (raises OutputError)."""
    return await trio.to_thread.run_sync(AtomicOutput, Path(path))


async def export_in_process(
    source: str,
    output: str | os.PathLike[str],
    *,
    chunk_rows: int,
    on_progress: ProgressCallback | None = None,
) -> ExportSummary:
    """Export with no workers and no NNG: the reference every design must match.

    Chunks are rendered one after another in a worker thread, so the Trio
    loop stays responsive, and written as they come.
    """
    started = trio.current_time()
    plan = await trio.to_thread.run_sync(plan_job, source, chunk_rows)
    out = await open_output(output)
    try:
        sink = OrderedSink(plan, out, on_progress=on_progress)
        await sink.write_header()
        for chunk in plan.chunks:
            rendered = await trio.to_thread.run_sync(
                render_from_url, plan.source, chunk
            )
            await sink.deliver(rendered.index, rendered.rows, rendered.data)
        return await sink.commit(started=started)
    except BaseException:
        await discard(out)
        raise


async def discard(output: AtomicOutput) -> None:
    """Delete a temporary output, even while being cancelled."""
    with trio.CancelScope(shield=True):
        await trio.to_thread.run_sync(output.abort)
