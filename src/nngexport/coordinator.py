"""The coordinator: finds workers with a survey, feeds them chunks, writes the file.

How it works. The coordinator owns three NNG sockets:

- a **surveyor0** on the address workers dial. A dedicated task sends a survey
  every ``survey_time`` seconds, back to back, and collects the answers
  (:class:`~nngexport.wire.Hello`) until the survey expires. A worker is live
  while it answered one of the last :data:`LIVE_ROUNDS` surveys. Each survey
  also announces the two pipeline addresses, so workers need only one URL.
- a **push0** for chunk descriptors. A dedicated sender task owns it; exports
  hand it frames through a channel. Push0 round-robins over the workers that
  are ready to take a message.
- a **pull0** for results. A dedicated receiver task decodes every frame and
  passes results of the running export to it; anything else is dropped and
  counted.

An export plans its chunks, waits until ``min_workers`` workers answered a
survey, then runs two tasks: the dispatcher asks the
:class:`~nngexport.scheduler.Scheduler` for the next chunk (bounded by a
window sized from the capacity the survey found) and the collector offers
results to the :class:`~nngexport.job.OrderedSink`, which writes them in
order. Memory is bounded by the window, not the size of the export.

Socket operations are never cancelled (see :mod:`nngexport._nng`); the long
lived tasks end when :func:`open_coordinator` closes the sockets on exit.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynng
import trio

from . import _nng
from .endpoints import ListenPlan, bound_url, listen_plan
from .errors import ChunkFailedError, ExportError, NoWorkersError, ProtocolError
from .job import (
    JobPlan,
    OrderedSink,
    ProgressCallback,
    discard,
    open_output,
    plan_job,
)
from .output import AtomicOutput
from .plan import DEFAULT_CHUNK_ROWS
from .progress import ExportSummary
from .scheduler import Scheduler, window_for
from .wire import Failure, Hello, Result, Survey, Task, decode, encode

logger = logging.getLogger(__name__)

#: Seconds a survey waits for answers; a new survey follows at once.
SURVEY_TIME = 0.25
#: A worker stays live while it answered one of this many latest surveys.
LIVE_ROUNDS = 3
#: Seconds an export waits for ``min_workers`` before giving up.
DISCOVER_TIMEOUT = 15.0
#: Seconds an export goes on with no live worker before it fails.
WORKER_TIMEOUT = 15.0
#: Largest result frame accepted (a chunk's CSV plus a small header).
MAX_RESULT_BYTES = 512 * 1024 * 1024
#: Largest survey answer accepted.
MAX_HELLO_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker as its latest survey answer described it."""

    worker: str
    slots: int
    busy: int
    pid: int
    host: str


@dataclass(frozen=True, slots=True)
class CoordinatorStatistics:
    """Counters of a coordinator since it opened.

    Attributes:
        surveys: Surveys sent.
        workers: Workers live now.
        slots: Their slots in total.
        malformed: Frames dropped because they did not decode.
        stray: Well-formed messages dropped because no running export wanted
            them (another job's results, results after the export ended).
    """

    surveys: int
    workers: int
    slots: int
    malformed: int
    stray: int


class _Kick:
    """Wakes every task waiting at the moment it is set; reusable.

    A waiter checks its condition, then waits, with no checkpoint in between,
    so no wake-up is lost.
    """

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def wait(self) -> None:
        await self._event.wait()


@dataclass
class _Active:
    job: str
    results: trio.MemorySendChannel[Result | Failure]


class Coordinator:
    """A running coordinator; get one from :func:`open_coordinator`."""

    def __init__(self, addresses: ListenPlan, sockets: tuple[Any, Any, Any]) -> None:
        self._addresses = addresses
        self._surveyor, self._push, self._pull = sockets
        self._round = 0
        self._seen: dict[str, tuple[int, WorkerInfo]] = {}
        self._membership_changed = _Kick()
        self._survey_ended = _Kick()
        self._tasks_send, self._tasks_receive = trio.open_memory_channel[bytes](0)
        self._active: _Active | None = None
        self._surveys = 0
        self._malformed = 0
        self._stray = 0

    @property
    def endpoint(self) -> str:
        """The URL workers pass to ``nngexport worker --connect``."""
        return self._addresses.survey

    def workers(self) -> tuple[WorkerInfo, ...]:
        """The live workers, as of the latest survey."""
        oldest = self._round - LIVE_ROUNDS
        return tuple(info for seen, info in self._seen.values() if seen > oldest)

    def statistics(self) -> CoordinatorStatistics:
        """Counters since the coordinator opened."""
        live = self.workers()
        return CoordinatorStatistics(
            surveys=self._surveys,
            workers=len(live),
            slots=sum(info.slots for info in live),
            malformed=self._malformed,
            stray=self._stray,
        )

    async def next_survey(self) -> tuple[WorkerInfo, ...]:
        """Wait for the survey under way to end; return the live workers then."""
        await self._survey_ended.wait()
        return self.workers()

    async def wait_for_workers(
        self, count: int, *, timeout: float = DISCOVER_TIMEOUT
    ) -> tuple[WorkerInfo, ...]:
        """Wait until at least ``count`` workers answer a survey.

        Raises:
            NoWorkersError: if fewer answered within ``timeout`` seconds.
        """
        live = self.workers()
        with trio.move_on_after(timeout):
            while len(live) < count:
                await self._membership_changed.wait()
                live = self.workers()
            return live
        raise NoWorkersError(
            f"only {len(live)} of {count} worker(s) answered within"
            f" {timeout:g} s at {self.endpoint}; start workers with"
            f" 'nngexport worker --connect {self.endpoint}'"
        )

    async def export(
        self,
        source: str,
        output: str | os.PathLike[str],
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        min_workers: int = 1,
        discover_timeout: float = DISCOVER_TIMEOUT,
        worker_timeout: float = WORKER_TIMEOUT,
        on_progress: ProgressCallback | None = None,
    ) -> ExportSummary:
        """Export ``source`` to the CSV file ``output`` with the workers found.

        Plans the chunks, creates the output under a temporary name, waits for
        ``min_workers`` workers, dispatches and collects every chunk, then
        renames the file into place. On any error or cancellation the
        temporary file is removed and ``output`` is left as it was.

        Raises:
            SourceError: the source cannot be opened or planned.
            OutputError: the output cannot be written.
            NoWorkersError: too few workers, or none left for too long.
            ChunkFailedError: a worker could not render a chunk.
        """
        started = trio.current_time()
        plan = await trio.to_thread.run_sync(plan_job, source, chunk_rows)
        out = await open_output(output)
        return await self.export_plan(
            plan,
            out,
            started=started,
            min_workers=min_workers,
            discover_timeout=discover_timeout,
            worker_timeout=worker_timeout,
            on_progress=on_progress,
        )

    async def export_plan(
        self,
        plan: JobPlan,
        out: AtomicOutput,
        *,
        started: float,
        min_workers: int = 1,
        discover_timeout: float = DISCOVER_TIMEOUT,
        worker_timeout: float = WORKER_TIMEOUT,
        on_progress: ProgressCallback | None = None,
    ) -> ExportSummary:
        """Run an export that is already planned, into an output already open.

        The lower half of :meth:`export`, for callers that plan and open the
        output first (to report bad input before starting any worker). Takes
        ownership of ``out``: commits it on success, discards it otherwise.
        """
        if self._active is not None:
            await discard(out)
            raise ExportError("this coordinator is already running an export")
        send, receive = trio.open_memory_channel[Result | Failure](0)
        try:
            live = await self.wait_for_workers(min_workers, timeout=discover_timeout)
            sink = OrderedSink(plan, out, on_progress=on_progress)
            sink.workers = len(live)
            scheduler = Scheduler(len(plan.chunks), window=self._window())
            self._active = _Active(plan.job, send)
            await sink.write_header()
            kick = _Kick()
            # Failures are passed out of the nursery by hand, not raised in it,
            # so callers get the ExportError itself and not a group of one.
            failures: list[ExportError] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._dispatch, plan, scheduler, sink, kick)
                nursery.start_soon(
                    self._follow_membership,
                    scheduler,
                    sink,
                    kick,
                    worker_timeout,
                    failures,
                    nursery.cancel_scope,
                )
                try:
                    await self._collect(receive, scheduler, sink, kick)
                except ExportError as exc:
                    failures.append(exc)
                nursery.cancel_scope.cancel()
            if failures:
                raise failures[0]
            return await sink.commit(started=started)
        except BaseException:
            await discard(out)
            raise
        finally:
            self._active = None
            send.close()

    def _window(self) -> int:
        return window_for(sum(info.slots for info in self.workers()))

    async def _dispatch(
        self, plan: JobPlan, scheduler: Scheduler, sink: OrderedSink, kick: _Kick
    ) -> None:
        while not scheduler.exhausted:
            index = scheduler.next_chunk(written=sink.written, now=trio.current_time())
            if index is None:
                await kick.wait()
                continue
            task = Task(plan.job, plan.source, plan.chunks[index])
            logger.debug("dispatching chunk %s of job %s", index, plan.job)
            await self._tasks_send.send(encode(task))

    async def _collect(
        self,
        receive: trio.MemoryReceiveChannel[Result | Failure],
        scheduler: Scheduler,
        sink: OrderedSink,
        kick: _Kick,
    ) -> None:
        while not sink.done:
            message = await receive.receive()
            if isinstance(message, Failure):
                raise ChunkFailedError(
                    f"chunk {message.index} failed on worker {message.worker}:"
                    f" {message.error}"
                )
            if not scheduler.is_in_flight(message.index):
                if not sink.has(message.index):
                    self._stray += 1
                    logger.warning(
                        "dropped a result for chunk %s, which was never dispatched",
                        message.index,
                    )
                else:
                    await sink.deliver(message.index, message.rows, message.data)
                continue
            scheduler.settle(message.index, now=trio.current_time())
            await sink.deliver(message.index, message.rows, message.data)
            kick.set()

    async def _follow_membership(
        self,
        scheduler: Scheduler,
        sink: OrderedSink,
        kick: _Kick,
        worker_timeout: float,
        failures: list[ExportError],
        scope: trio.CancelScope,
    ) -> None:
        alone_since: float | None = None
        while True:
            await self._membership_changed.wait()
            live = self.workers()
            sink.workers = max(sink.workers, len(live))
            if live:
                alone_since = None
                window = window_for(sum(info.slots for info in live))
                if window != scheduler.window:
                    scheduler.window = window
                    kick.set()
                continue
            now = trio.current_time()
            if alone_since is None:
                alone_since = now
            elif now - alone_since >= worker_timeout:
                failures.append(
                    NoWorkersError(
                        f"no worker has answered for {worker_timeout:g} s;"
                        f" {sink.written} of {len(sink.plan.chunks)} chunks"
                        " were written"
                    )
                )
                scope.cancel()
                return

    async def _survey_loop(self) -> None:
        while True:
            job = self._active.job if self._active else ""
            survey = Survey(job, self._addresses.tasks, self._addresses.results)
            try:
                await _nng.send(self._surveyor, encode(survey))
            except _nng.CLOSED:
                return
            self._surveys += 1
            self._round += 1
            while True:
                try:
                    frame = await _nng.recv(self._surveyor)
                except pynng.Timeout:
                    break
                except _nng.CLOSED:
                    return
                try:
                    hello = decode(frame)
                except ProtocolError as exc:
                    self._malformed += 1
                    logger.warning("dropped a malformed survey answer: %s", exc)
                    continue
                if not isinstance(hello, Hello):
                    self._malformed += 1
                    continue
                info = WorkerInfo(
                    hello.worker, hello.slots, hello.busy, hello.pid, hello.host
                )
                joined = hello.worker not in self._seen
                self._seen[hello.worker] = (self._round, info)
                if joined:
                    logger.info(
                        "worker %s joined with %s slot(s)", info.worker, info.slots
                    )
                    # Tell waiters now, not when the survey ends.
                    self._membership_changed.set()
            oldest = self._round - LIVE_ROUNDS
            for worker, (seen, _) in list(self._seen.items()):
                if seen <= oldest:
                    logger.info("worker %s stopped answering surveys", worker)
                    del self._seen[worker]
            self._membership_changed.set()
            self._survey_ended.set()

    async def _send_loop(self) -> None:
        async for frame in self._tasks_receive:
            try:
                await _nng.send(self._push, frame)
            except _nng.CLOSED:
                return

    async def _receive_loop(self) -> None:
        while True:
            try:
                frame = await _nng.recv(self._pull)
            except _nng.CLOSED:
                return
            try:
                message = decode(frame)
            except ProtocolError as exc:
                self._malformed += 1
                logger.warning("dropped a malformed result frame: %s", exc)
                continue
            active = self._active
            if (
                not isinstance(message, Result | Failure)
                or active is None
                or message.job != active.job
            ):
                self._stray += 1
                logger.debug("dropped a stray %s", type(message).__name__)
                continue
            try:
                await active.results.send(message)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._stray += 1

    def _close(self) -> None:
        _nng.close_all(self._surveyor, self._push, self._pull)
        self._tasks_send.close()


@asynccontextmanager
async def open_coordinator(
    listen: str | None = None, *, survey_time: float = SURVEY_TIME
) -> AsyncIterator[Coordinator]:
    """Open a coordinator listening on ``listen`` and start surveying for workers.

    Args:
        listen: The address workers dial: ``tcp://HOST:PORT`` for workers on
            other machines, ``ipc:///PATH`` or ``inproc://NAME`` for local
            ones. ``None`` picks a fresh ipc:// address in a temporary
            directory. Two more addresses are derived from it (see
            :mod:`nngexport.endpoints`).
        survey_time: Seconds each survey waits for answers.

    Raises:
        UsageError: ``listen`` is not an address.
        ExportError: the address cannot be bound (for example, in use).
    """
    with tempfile.TemporaryDirectory(prefix="nngexport-") as scratch:
        if listen is None:
            listen = f"ipc://{Path(scratch, 'survey.ipc')}"
        planned = listen_plan(listen)
        surveyor = pynng.Surveyor0()
        push = pynng.Push0()
        pull = pynng.Pull0()
        try:
            surveyor.survey_time = round(survey_time * 1000)
            surveyor.recv_max_size = MAX_HELLO_BYTES
            pull.recv_max_size = MAX_RESULT_BYTES
            bound = ListenPlan(
                bound_url(planned.survey, _listen(surveyor, planned.survey)),
                bound_url(planned.tasks, _listen(push, planned.tasks)),
                bound_url(planned.results, _listen(pull, planned.results)),
            )
            coordinator = Coordinator(bound, (surveyor, push, pull))
            # The body runs inside the nursery but its exception is re-raised
            # outside it, so the caller sees its own error, not a group. The
            # loops never raise: closing the sockets ends them.
            body_error: BaseException | None = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(coordinator._survey_loop)
                nursery.start_soon(coordinator._send_loop)
                nursery.start_soon(coordinator._receive_loop)
                try:
                    yield coordinator
                except BaseException as exc:
                    body_error = exc
                finally:
                    coordinator._close()
            if body_error is not None:
                raise body_error
        finally:
            _nng.close_all(surveyor, push, pull)


def _listen(sock: Any, url: str) -> object:
    try:
        return sock.listen(url).local_address
    except pynng.NNGException as exc:
        raise ExportError(f"cannot listen on {url!r}: {exc}") from None
