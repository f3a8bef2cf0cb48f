"""The ordered sink: chunks in any order in, one ordered file out.

Designs call :meth:`OrderedSink.deliver` with rendered chunks as they come;
the sink offers each to the :class:`~nngexport.assembly.Assembler` and writes
every run that became ready to the :class:`~nngexport.destination.
Destination`, which journals it. It also produces the progress events and
the final summary. :func:`export_in_process`, the reference export, is the
simplest design: it renders the chunks one after another, right here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import trio

from .assembly import Assembler, Verdict
from .destination import Destination, check_destination, open_destination
from .job import JobPlan, ProgressCallback, RecoveryCounters, plan_job, render_from_url
from .latency import LatencyHistogram
from .progress import ExportSummary, Progress
from .render import render_header

logger = logging.getLogger(__name__)


class OrderedSink:
    """Writes chunks to the destination in index order, each exactly once."""

    def __init__(
        self,
        plan: JobPlan,
        destination: Destination,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.plan = plan
        self._destination = destination
        self._output = destination.output
        self._assembler = Assembler(len(plan.chunks), start=destination.start)
        self._on_progress = on_progress
        self._recovery_reported = (0, 0, 0)
        self._rows_of: dict[int, int] = {}
        # First send of each chunk not yet written, and how long chunks took.
        self._sent_at: dict[int, float] = {}
        self.latency = LatencyHistogram()
        self.rows_written = sum(c.rows for c in plan.chunks[: destination.start])
        self.workers = 0
        #: Where recovery counters come from, for designs that recover.
        self.statistics: Callable[[], RecoveryCounters] | None = None
        self._started = trio.current_time()

    @property
    def start(self) -> int:
        """Chunks already in the file when this sink opened (resume)."""
        return self._destination.start

    @property
    def written(self) -> int:
        """How many chunks (a prefix of the plan) are in the output."""
        return self._assembler.next_index

    @property
    def done(self) -> bool:
        """Whether every chunk is in the output."""
        return self._assembler.done

    async def write_header(self) -> None:
        """Write the header line, unless a resumed file has it already."""
        if self._destination.start == 0:
            await trio.to_thread.run_sync(
                self._write, [render_header(self.plan.columns)]
            )

    def _write(self, pieces: Sequence[bytes | memoryview]) -> None:
        self._destination.write(pieces, chunks_done=self.written)

    def mark_sent(self, index: int, *, now: float) -> None:
        """Chunk ``index`` went out (the first time counts): starts its latency."""
        if index >= self.written:
            self._sent_at.setdefault(index, now)

    async def deliver(self, index: int, rows: int, data: bytes | memoryview) -> Verdict:
        """Offer chunk ``index`` (``rows`` rows of CSV ``data``)."""
        return (await self.deliver_many([(index, rows, data)]))[0]

    async def deliver_many(
        self, chunks: Sequence[tuple[int, int, bytes | memoryview]]
    ) -> list[Verdict]:
        """Offer several ``(index, rows, data)`` chunks; write what is ready at once.

        One hop to the writer's thread for all of them: with small chunks
        the hop, not the write, is what costs.
        """
        verdicts: list[Verdict] = []
        ready: list[bytes | memoryview] = []
        first = self.written
        for index, rows, data in chunks:
            offer = self._assembler.add(index, data)
            verdicts.append(offer.verdict)
            if offer.verdict is not Verdict.ACCEPTED:
                logger.debug("chunk %s dropped: %s", index, offer.verdict.value)
                continue
            self._rows_of[index] = rows
            ready += offer.ready
        if not ready:
            return verdicts
        for done in range(first, self.written):
            self.rows_written += self._rows_of.pop(done)
        # Written piece by piece, as they came: joining would copy them.
        await trio.to_thread.run_sync(self._write, ready)
        now = trio.current_time()
        for done in range(first, self.written):
            sent = self._sent_at.pop(done, None)
            if sent is not None:
                self.latency.add(now - sent)
        self._report(self.progress())
        return verdicts

    def report_recovery(self) -> None:
        """Send a progress event if a recovery counter moved since the last one.

        Re-issues, duplicates and lost workers are news even when no chunk
        was written, so the run calls this whenever it may have changed them.
        """
        progress = self.progress()
        if _recovery(progress) != self._recovery_reported:
            self._report(progress)

    def _report(self, progress: Progress) -> None:
        self._recovery_reported = _recovery(progress)
        if self._on_progress is not None:
            self._on_progress(progress)

    def progress(self) -> Progress:
        """A progress event for the current state."""
        counters = self.statistics() if self.statistics else None
        return Progress(
            chunks_done=self.written,
            chunks_total=len(self.plan.chunks),
            rows_done=self.rows_written,
            rows_total=self.plan.rows,
            bytes_done=self._output.bytes_written,
            elapsed=trio.current_time() - self._started,
            workers=self.workers,
            reissued=counters.reissued if counters else 0,
            duplicates=counters.duplicates if counters else 0,
            workers_lost=counters.workers_lost if counters else 0,
        )

    async def commit(self, *, started: float) -> ExportSummary:
        """Move the finished file into place and summarise the export."""
        if not self.done:
            raise AssertionError("commit before every chunk was written")
        await trio.to_thread.run_sync(self._destination.commit)
        counters = self.statistics() if self.statistics else None
        return ExportSummary(
            output=self._output.path,
            rows=self.rows_written,
            bytes=self._output.bytes_written,
            chunks=len(self.plan.chunks),
            seconds=trio.current_time() - started,
            sha256=self._output.sha256,
            workers=self.workers,
            duplicates=counters.duplicates if counters else 0,
            reissued=counters.reissued if counters else 0,
            workers_lost=counters.workers_lost if counters else 0,
            recoveries=counters.recoveries if counters else (),
            resumed_at=self._destination.start,
            latency_p50=self.latency.quantile(0.5),
            latency_p99=self.latency.quantile(0.99),
        )

    async def close(self) -> None:
        """After a failure: keep the files for ``--resume`` if any chunk is in."""
        keep = self.written > 0
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(lambda: self._destination.close(keep=keep))


async def prepare(
    plan: JobPlan, output: str | os.PathLike[str], *, resume: bool
) -> Destination:
    """Open the destination of ``plan`` (see :func:`open_destination`)."""
    return await trio.to_thread.run_sync(
        lambda: open_destination(plan, output, resume=resume)
    )


async def export_in_process(
    source: str,
    output: str | os.PathLike[str],
    *,
    chunk_rows: int,
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
) -> ExportSummary:
    """Export with no workers and no NNG: the reference every design must match.

    Chunks are rendered one after another in a worker thread, so the Trio
    loop stays responsive, and written as they come.
    """
    started = trio.current_time()
    await trio.to_thread.run_sync(lambda: check_destination(output, resume=resume))
    plan = await trio.to_thread.run_sync(plan_job, source, chunk_rows)
    destination = await prepare(plan, output, resume=resume)
    sink = OrderedSink(plan, destination, on_progress=on_progress)
    try:
        await sink.write_header()
        for chunk in plan.chunks[sink.start :]:
            sink.mark_sent(chunk.index, now=trio.current_time())
            rendered = await trio.to_thread.run_sync(
                render_from_url, plan.source, chunk
            )
            await sink.deliver(rendered.index, rendered.rows, rendered.data)
        return await sink.commit(started=started)
    except BaseException:
        await sink.close()
        raise


def _recovery(progress: Progress) -> tuple[int, int, int]:
    return progress.reissued, progress.duplicates, progress.workers_lost
