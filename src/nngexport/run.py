"""One export on a coordinator: dispatch, leases and collection, over Trio.

The coordinator's long-lived socket loops feed an :class:`ExportRun` what
they see (a descriptor went out, a worker took a chunk, a survey answer
listing what a worker holds, a worker lost, a survey ended, a result); the
run turns that into calls on the sans-I/O :class:`~nngexport.scheduler.
Scheduler` and :class:`~nngexport.job.OrderedSink`, and runs two tasks of
its own: the dispatcher, which sends whatever the scheduler releases, and the
collector, which writes results in order.

Failures found by the callbacks (a chunk out of attempts, no worker for too
long) are stored and end the run by cancelling its nursery; :meth:`run`
then raises them as plain :class:`~nngexport.errors.ExportError`\\ s, never
wrapped in an exception group.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from .errors import ChunkFailedError, ExportError, NoWorkersError
from .job import JobPlan
from .membership import Membership
from .scheduler import Outcome, Scheduler
from .sink import OrderedSink
from .wire import Failure, Result, Task

logger = logging.getLogger(__name__)

SendTask = Callable[[Task], Awaitable[None]]

#: Results that may wait between the receiving loop and the writer.
RESULTS_BUFFER = 16


@dataclass(frozen=True, slots=True)
class RunStatistics:
    """What an export had to recover from.

    Attributes:
        reissued: Chunks sent again (worker lost, lease expired, not
            acknowledged, or failed).
        duplicates: Results dropped because their chunk was already written.
        workers_lost: Times a worker was given up on during the export.
        recoveries: For each re-sent chunk, seconds from the last sign of
            life of the worker that held it (its last survey answer; for a
            chunk nobody acknowledged, the first send) to the new send.
    """

    reissued: int
    duplicates: int
    workers_lost: int
    recoveries: tuple[float, ...]


class ExportRun:
    """The state of one running export; see the module docstring."""

    def __init__(
        self,
        plan: JobPlan,
        sink: OrderedSink,
        scheduler: Scheduler,
        *,
        membership: Membership,
        send_task: SendTask,
        worker_timeout: float,
    ) -> None:
        self.plan = plan
        self._sink = sink
        self._scheduler = scheduler
        self._membership = membership
        self._send_task = send_task
        self._worker_timeout = worker_timeout
        # A small buffer, so the receiving loop gets on to the next frame (a
        # Taken, say) while a result is being written.
        self.results, self._results = trio.open_memory_channel[Result](RESULTS_BUFFER)
        # Whether the receiving loop waited for the writer since the last
        # survey: then what workers sent may be unread in our own buffers.
        self._backlogged = False
        self._waiting = False
        self._wake = trio.Event()
        self._failure: ExportError | None = None
        self._scope: trio.CancelScope | None = None
        self._sent_at: dict[int, float] = {}
        self._recovering: dict[int, float] = {}
        self._recoveries: list[float] = []

    @property
    def job(self) -> str:
        """The job id every message of this export carries."""
        return self.plan.job

    def statistics(self) -> RunStatistics:
        """Counters of what this export recovered from so far."""
        stats = self._scheduler.statistics()
        return RunStatistics(
            reissued=stats.reissued,
            duplicates=stats.duplicates,
            workers_lost=stats.workers_lost,
            recoveries=tuple(self._recoveries),
        )

    # -- fed by the coordinator's socket loops ------------------------------

    def sent(self, index: int, *, now: float) -> None:
        """NNG took the descriptor of chunk ``index``."""
        self._scheduler.sent(index, now=now)
        self._sent_at.setdefault(index, now)
        self._sink.mark_sent(index, now=now)
        since = self._recovering.pop(index, None)
        if since is not None:
            self._recoveries.append(now - since)

    def taken(self, index: int, worker: str, *, now: float) -> None:
        """``worker`` received chunk ``index``."""
        self._scheduler.taken(index, worker, now=now)

    def renew(self, worker: str, held: tuple[int, ...], *, now: float) -> None:
        """``worker`` answered a survey, holding ``held``."""
        self._scheduler.renew(worker, held, now=now)

    def lose(self, worker: str, *, now: float) -> None:
        """``worker`` is gone: re-issue what it held."""
        lost = self._scheduler.lose_worker(worker, now=now)
        if lost:
            logger.warning(
                "worker %s lost holding chunk(s) %s; re-issuing them",
                worker,
                ", ".join(map(str, lost)),
            )
        since = self._membership.last_seen(worker)
        for index in lost:
            self._recovering[index] = since if since is not None else now
        self._check_failure()
        self._sink.report_recovery()
        self._kick()

    async def hand_over(self, message: Result | Failure) -> None:
        """A result or failure arrived: settle it now, queue a result for writing.

        The scheduler hears of a result as soon as it arrives, not once it is
        written, so a slow disk never makes a chunk whose result is already
        here look overdue. Waits while the writer is a full buffer behind.

        Raises:
            trio.BrokenResourceError: the run is over.
        """
        now = trio.current_time()
        if isinstance(message, Failure):
            logger.warning(
                "chunk %s failed on worker %s: %s",
                message.index,
                message.worker,
                message.error,
            )
            self._scheduler.fail(message.index, message.worker, message.error, now=now)
            self._check_failure()
            self._sink.report_recovery()
            self._kick()
            return
        outcome = self._scheduler.complete(
            message.index, message.worker, now=now, size=len(message.data)
        )
        if outcome is Outcome.DUPLICATE:
            logger.info(
                "dropped a duplicate of chunk %s from %s", message.index, message.worker
            )
            self._sink.report_recovery()
            return
        if outcome is Outcome.UNKNOWN:
            logger.warning(
                "dropped a result for chunk %s, which was never dispatched",
                message.index,
            )
            return
        self._sent_at.pop(message.index, None)
        self._recovering.pop(message.index, None)
        try:
            self.results.send_nowait(message)
            return
        except trio.WouldBlock:
            pass
        self._waiting = self._backlogged = True
        try:
            await self.results.send(message)
        finally:
            self._waiting = False

    def survey_ended(self, *, now: float) -> None:
        """A survey ended: follow the capacity, expire overdue chunks."""
        if self._backlogged:
            # A slow disk held the receiving loop: acknowledgements and
            # results may be waiting in our own socket, unread; nothing is
            # overdue for that.
            self._scheduler.defer_deadlines(now=now)
            self._backlogged = self._waiting
        self._sink.workers = max(self._sink.workers, len(self._membership.live()))
        alone = self._scheduler.follow_capacity(self._membership.slots(), now=now)
        if alone >= self._worker_timeout:
            self._fail(
                NoWorkersError(
                    f"no worker has answered for {self._worker_timeout:g} s;"
                    f" {self._sink.written} of {len(self.plan.chunks)} chunks"
                    " were written"
                )
            )
        expired = self._expire(now)
        if expired:
            logger.warning(
                "chunk(s) %s overdue (lease expired or not acknowledged);"
                " re-issuing them",
                ", ".join(map(str, expired)),
            )
        self._check_failure()
        self._sink.report_recovery()
        self._kick()

    # -- the run itself -----------------------------------------------------

    async def run(self) -> None:
        """Dispatch and collect until every chunk is written, or raise."""
        try:
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                nursery.start_soon(self._dispatch)
                try:
                    await self._collect()
                except ExportError as exc:
                    self._fail(exc)
                nursery.cancel_scope.cancel()
        finally:
            self.close()
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Stop taking results: whoever hands one over gets BrokenResourceError."""
        self._results.close()

    async def _dispatch(self) -> None:
        while True:
            index = self._scheduler.next_chunk(written=self._sink.written)
            if index is None:
                await self._wait()
                continue
            task = Task(self.job, self.plan.source, self.plan.chunks[index])
            logger.debug("dispatching chunk %s of job %s", index, self.job)
            await self._send_task(task)

    async def _collect(self) -> None:
        while not self._sink.done:
            results = [await self._results.receive()]
            # Whatever else is waiting goes to the writer in the same hop.
            while len(results) < RESULTS_BUFFER:
                try:
                    results.append(self._results.receive_nowait())
                except trio.WouldBlock:
                    break
            await self._sink.deliver_many([(r.index, r.rows, r.data) for r in results])
            self._kick()

    def _expire(self, now: float) -> list[int]:
        expired = self._scheduler.expire(now=now)
        for index in expired:
            holder = next(
                (
                    r.worker
                    for r in reversed(self._scheduler.reissues)
                    if r.index == index
                ),
                None,
            )
            seen = self._membership.last_seen(holder) if holder else None
            self._recovering[index] = (
                seen if seen is not None else self._sent_at.get(index, now)
            )
        return expired

    def _check_failure(self) -> None:
        failure = self._scheduler.failure
        if failure is not None:
            self._fail(ChunkFailedError(failure.describe()))

    def _fail(self, error: ExportError) -> None:
        if self._failure is None:
            self._failure = error
        if self._scope is not None:
            self._scope.cancel()

    def _kick(self) -> None:
        self._wake.set()
        self._wake = trio.Event()

    async def _wait(self) -> None:
        await self._wake.wait()
