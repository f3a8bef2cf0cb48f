"""The coordinator: finds workers with a survey, feeds them chunks, writes the file.

How it works. The coordinator owns three NNG sockets:

- a **surveyor0** on the address workers dial. A dedicated task sends a survey
  every ``survey_time`` seconds, back to back, and collects the answers
  (:class:`~nngexport.wire.Hello`) until the survey expires. Who is live is
  kept by :class:`~nngexport.membership.Membership`. Each survey also
  announces the two pipeline addresses, so workers need only one URL.
- a **push0** for chunk descriptors. A dedicated sender task owns it; exports
  hand it frames through a channel, and learn when NNG took each one.
- a **pull0** for what workers send back: ``Taken`` (a worker received a
  chunk), ``Result`` and ``Failure``. A dedicated receiver task decodes every
  frame and passes those of the running export to it; anything else is
  dropped and counted.

An export plans its chunks, waits until ``min_workers`` workers answered a
survey, then hands over to an :class:`~nngexport.run.ExportRun`, which
dispatches within a window, tracks leases, re-issues the chunks of lost
workers and writes results in order. The socket loops feed it what they see.

Socket operations are never cancelled once started, and no socket is closed
while an operation on it is pending (see :mod:`nngexport._nng`): every
operation ends by itself within a short timeout, and :func:`open_coordinator`
cancels the loops, waits for them, and only then closes the sockets.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from .auth import Sealer
from .defaults import DISCOVER_TIMEOUT, MAX_ATTEMPTS, WORKER_TIMEOUT
from .destination import Destination
from .endpoints import ListenPlan, bound_url, listen_plan
from .errors import ExportError, NoWorkersError
from .frames import FrameGate
from .job import JobPlan, ProgressCallback, plan_job
from .membership import Membership, WorkerInfo
from .plan import DEFAULT_CHUNK_ROWS, Chunk
from .progress import ExportSummary
from .run import ExportRun
from .scheduler import Scheduler, window_for
from .sink import OrderedSink, prepare
from .tls import TlsFiles, check_tls, server_config
from .wire import (
    MAX_BATCH,
    Batch,
    Failure,
    Hello,
    Result,
    Survey,
    Taken,
    Task,
    Tasks,
    encode,
)

logger = logging.getLogger(__name__)

#: Seconds a survey waits for answers; a new survey follows at once.
SURVEY_TIME = 0.25
#: Seconds each survey lasts while an export waits for its first workers, so
#: that a worker that just connected is found sooner than a full survey.
DISCOVERY_SURVEY_TIME = 0.05
#: Largest result frame accepted (a chunk's CSV plus a small header).
MAX_RESULT_BYTES = 512 * 1024 * 1024
#: Largest survey answer accepted.
MAX_HELLO_BYTES = 64 * 1024
#: Seconds a pipeline send may wait before it returns and retries.
SOCKET_TIMEOUT = 0.25
#: Seconds the result pipeline's receive may wait before it returns and
#: retries. Short, because stopping the loops waits for the receive pending
#: then (see :mod:`nngexport._nng`): after a last export (``last=True``)
#: that wait should end while the file is committed (about 0.1 s), not
#: after. An idle coordinator wakes 20 times a second for it.
RECEIVE_TIMEOUT = 0.05


@dataclass(frozen=True, slots=True)
class CoordinatorStatistics:
    """Counters of a coordinator since it opened.

    Attributes:
        surveys: Surveys sent.
        workers: Workers live now.
        slots: Their slots in total.
        malformed: Frames dropped because they did not decode (garbage, a
            wrong wire version, a bad field).
        stray: Well-formed messages dropped because no running export wanted
            them (another job's results, results after the export ended).
        unauthenticated: Frames dropped in shared-secret mode because their
            HMAC tag was missing or wrong.
    """

    surveys: int
    workers: int
    slots: int
    malformed: int
    stray: int
    unauthenticated: int = 0


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


class Coordinator:
    """A running coordinator; get one from :func:`open_coordinator`."""

    def __init__(
        self,
        addresses: ListenPlan,
        sockets: tuple[Any, Any, Any],
        *,
        survey_time: float = SURVEY_TIME,
        sealer: Sealer | None = None,
    ) -> None:
        self._addresses = addresses
        self._surveyor, self._push, self._pull = sockets
        self._membership = Membership()
        self._membership_changed = _Kick()
        self._survey_ended = _Kick()
        # Buffered, so that the send loop finds descriptors queued together
        # and sends them as one Tasks frame; the scheduler's window bounds
        # how many are out at once.
        self._tasks_send, self._tasks_receive = trio.open_memory_channel[Task](
            MAX_BATCH
        )
        self._active: ExportRun | None = None
        self._survey_time = survey_time
        self._survey_time_set = survey_time
        self._discovering = 0
        self._surveys = 0
        self._gate = FrameGate(sealer, logger)
        # The scope the loops run in (see _run_loops): cancelled, they stop.
        self._loops = trio.CancelScope()
        self._retired = False

    @property
    def endpoint(self) -> str:
        """The URL workers pass to ``nngexport worker --connect``."""
        return self._addresses.survey

    def workers(self) -> tuple[WorkerInfo, ...]:
        """The live workers, as of the latest survey."""
        return self._membership.live()

    def statistics(self) -> CoordinatorStatistics:
        """Counters since the coordinator opened."""
        return CoordinatorStatistics(
            surveys=self._surveys,
            workers=len(self._membership.live()),
            slots=self._membership.slots(),
            **self._gate.drops.counts(),
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
        self._discovering += 1
        try:
            with trio.move_on_after(timeout):
                while len(live) < count:
                    await self._membership_changed.wait()
                    live = self.workers()
                return live
        finally:
            self._discovering -= 1
        raise NoWorkersError(
            f"only {len(live)} of {count} worker(s) answered within"
            f" {timeout:g} s at {self.endpoint}; start workers with"
            f" 'nngexport worker --connect {self.endpoint} --allow PATTERN'"
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
        max_attempts: int = MAX_ATTEMPTS,
        resume: bool = False,
        on_progress: ProgressCallback | None = None,
        last: bool = False,
    ) -> ExportSummary:
        """Export ``source`` to the CSV file ``output`` with the workers found.

        Plans the chunks, opens the part file and journal beside ``output``
        (or, with ``resume``, continues an interrupted export's), waits for
        ``min_workers`` workers, dispatches and collects every chunk (sending
        again any chunk whose worker is lost), then renames the part file
        into place. ``output`` itself is never half-written: if the export
        fails after writing chunks, the part file and journal stay for
        ``resume``; if it fails before, they are removed.

        With ``last``, this is the coordinator's last export (see
        :meth:`export_plan`): a coordinator opened for one export closes
        sooner after it.

        Raises:
            SourceError: the source cannot be opened or planned.
            OutputError: the output cannot be written or resumed.
            NoWorkersError: too few workers, or none left for too long.
            ChunkFailedError: a chunk failed or lost its worker
                ``max_attempts`` times.
        """
        started = trio.current_time()
        plan = await trio.to_thread.run_sync(plan_job, source, chunk_rows)
        destination = await prepare(plan, output, resume=resume)
        return await self.export_plan(
            plan,
            destination,
            started=started,
            min_workers=min_workers,
            discover_timeout=discover_timeout,
            worker_timeout=worker_timeout,
            max_attempts=max_attempts,
            on_progress=on_progress,
            last=last,
        )

    async def export_plan(
        self,
        plan: JobPlan,
        destination: Destination,
        *,
        started: float,
        min_workers: int = 1,
        discover_timeout: float = DISCOVER_TIMEOUT,
        worker_timeout: float = WORKER_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        on_progress: ProgressCallback | None = None,
        last: bool = False,
    ) -> ExportSummary:
        """Run an export that is already planned, into a destination already open.

        The lower half of :meth:`export`, for callers that plan and open the
        destination themselves. Takes ownership of ``destination``: commits
        it on success, closes it (keeping it for resume if any chunk was
        written) otherwise.

        With ``last``, this is the coordinator's last export: once every
        chunk is in, its survey and pipeline loops start stopping while the
        file is committed, so leaving :func:`open_coordinator` afterwards
        does not wait out a survey (up to ``survey_time``) on its own.
        """
        sink = OrderedSink(plan, destination, on_progress=on_progress)
        try:
            if self._retired:
                raise ExportError(
                    "this coordinator has run its last export; open another"
                )
            if self._active is not None:
                raise ExportError("this coordinator is already running an export")
            live = await self.wait_for_workers(min_workers, timeout=discover_timeout)
            sink.workers = len(live)
            scheduler = Scheduler(
                len(plan.chunks),
                window=window_for(self._membership.slots()),
                grow_window=True,
                max_attempts=max_attempts,
                start=sink.start,
            )
            run = ExportRun(
                plan,
                sink,
                scheduler,
                membership=self._membership,
                send_task=self._send_task,
                worker_timeout=worker_timeout,
            )
            sink.statistics = run.statistics
            await sink.write_header()
            before = self._gate.drops.counts()
            self._active = run
            try:
                await run.run()
            finally:
                self._active = None
                run.close()
            if last:
                self._retire()
            summary = await sink.commit(started=started)
            dropped = tuple(self._gate.drops.since(before).items())
            return dataclasses.replace(summary, dropped=dropped)
        except BaseException:
            await sink.close()
            raise

    async def _send_task(self, task: Task) -> None:
        # No checkpoint while there is room: the dispatcher queues all the
        # chunks it may before the send loop runs, which then sends them in
        # one frame.
        try:
            self._tasks_send.send_nowait(task)
        except trio.WouldBlock:
            await self._tasks_send.send(task)

    async def _survey_loop(self) -> None:
        while True:
            run = self._active
            survey = Survey(
                run.job if run else "", self._addresses.tasks, self._addresses.results
            )
            self._pace_surveys()
            try:
                await _nng.send(self._surveyor, self._gate.seal(encode(survey)))
            except _nng.CLOSED:
                return
            self._surveys += 1
            self._membership.start_round()
            while True:
                try:
                    frame, pipe, peer = await _nng.recv_from(self._surveyor)
                except (pynng.Timeout, pynng.BadState):
                    # Timeout: the survey ended while we waited. BadState: it
                    # ended before we asked (a busy loop); same thing.
                    break
                except _nng.CLOSED:
                    return
                self._answered(frame, pipe, peer)
            now = trio.current_time()
            for worker in self._membership.end_round():
                logger.warning("worker %s stopped answering surveys", worker)
                if self._active is not None:
                    self._active.lose(worker, now=now)
            if self._active is not None:
                self._active.survey_ended(now=now)
            self._membership_changed.set()
            self._survey_ended.set()

    def _pace_surveys(self) -> None:
        """Short surveys while an export waits for workers, else the usual."""
        wanted = self._survey_time
        if self._discovering and self._active is None:
            wanted = min(wanted, DISCOVERY_SURVEY_TIME)
        if wanted != self._survey_time_set:
            self._surveyor.survey_time = round(wanted * 1000)
            self._survey_time_set = wanted

    def _answered(self, frame: bytes, pipe: int | None, peer: _nng.Peer) -> None:
        hello = self._gate.open(frame, peer)
        if hello is None:
            return
        if not isinstance(hello, Hello):
            self._gate.stray(peer, f"a {type(hello).__name__} on the survey")
            return
        now = trio.current_time()
        if self._membership.answered(hello, pipe=pipe, now=now):
            logger.info("worker %s joined with %s slot(s)", hello.worker, hello.slots)
            # Tell waiters now, not when the survey ends.
            self._membership_changed.set()
        run = self._active
        if run is not None and hello.job == run.job:
            run.renew(hello.worker, hello.held, now=now)

    def _pipe_closed(self, pipe: int) -> None:
        worker = self._membership.pipe_closed(pipe)
        if worker is None:
            return
        logger.info("worker %s disconnected", worker)
        if self._active is not None:
            self._active.lose(worker, now=trio.current_time())
        self._membership_changed.set()

    async def _send_loop(self) -> None:
        async for first in self._tasks_receive:
            if self._active is None or self._active.job != first.job:
                continue  # left in the queue by a run that is over
            batch = self._batch_after(first)
            frame = self._gate.seal(
                encode(Tasks(first.job, first.source, tuple(batch)))
            )
            while True:
                try:
                    await _nng.send(self._push, frame)
                    break
                except pynng.Timeout:
                    continue  # no worker took it yet; try again
                except _nng.CLOSED:
                    return
            run = self._active
            if run is not None and run.job == first.job:
                now = trio.current_time()
                for chunk in batch:
                    run.sent(chunk.index, now=now)

    def _batch_after(self, first: Task) -> list[Chunk]:
        """``first``'s chunk and a fair share of the descriptors queued behind it.

        Push0 hands a whole frame to one worker, so a batch takes at most the
        queue's length over the number of live workers: batching saves
        wake-ups without starving a worker.
        """
        queued = self._tasks_receive.statistics().current_buffer_used
        share = -(-(queued + 1) // max(1, len(self._membership.live())))
        batch = [first.chunk]
        while len(batch) < min(share, MAX_BATCH):
            try:
                task = self._tasks_receive.receive_nowait()
            except trio.WouldBlock:
                break
            if (task.job, task.source) == (first.job, first.source):
                batch.append(task.chunk)
            # else it is left from a run that is over: dropped
        return batch

    async def _receive_loop(self) -> None:
        while received := await self._gate.receive(self._pull):
            message, peer = received
            run = self._active
            if not isinstance(message, Result | Failure | Taken | Batch):
                what = f"a {type(message).__name__} on the result pipeline"
                self._gate.stray(peer, what)
                continue
            if run is None:
                self._gate.stray(peer, "a reply while no export runs")
                continue
            items = message.items if isinstance(message, Batch) else (message,)
            for item in items:
                if item.job != run.job:
                    self._gate.stray(peer, f"a reply for job {item.job!r}")
                    continue
                if isinstance(item, Taken):
                    run.taken(item.index, item.worker, now=trio.current_time())
                    continue
                try:
                    await run.hand_over(item)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._gate.stray(peer, "a reply after the export ended")

    def _retire(self) -> None:
        """Start stopping the loops; each stops within its socket's timeout."""
        self._retired = True
        self._loops.cancel()

    async def _run_loops(self) -> None:
        # In a scope of their own, so that _retire stops them and not the
        # body of open_coordinator, which runs in the same nursery.
        with self._loops:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._survey_loop)
                nursery.start_soon(self._send_loop)
                nursery.start_soon(self._receive_loop)

    def _close(self) -> None:
        _nng.close_all(self._surveyor, self._push, self._pull)
        self._tasks_send.close()


@asynccontextmanager
async def open_coordinator(
    listen: str | None = None,
    *,
    survey_time: float = SURVEY_TIME,
    secret: Sealer | None = None,
    tls: TlsFiles | None = None,
    max_result_bytes: int = MAX_RESULT_BYTES,
) -> AsyncIterator[Coordinator]:
    """Open a coordinator listening on ``listen`` and start surveying for workers.

    Args:
        listen: The address workers dial: ``tcp://HOST:PORT`` for workers on
            other machines, ``ipc:///PATH`` or ``inproc://NAME`` for local
            ones. ``None`` picks a fresh ipc:// address in a temporary
            directory. Two more addresses are derived from it (see
            :mod:`nngexport.endpoints`).
        survey_time: Seconds each survey waits for answers.
        secret: Shared-secret mode: seal every frame sent and drop every
            frame received without a valid tag (see :mod:`nngexport.auth`).
        tls: For a ``tls+tcp://`` address: this side's certificate, key and
            CA; only peers with a certificate from that CA can connect (see
            :mod:`nngexport.tls`).
        max_result_bytes: The largest frame the result pipeline accepts; NNG
            drops the connection of a peer that sends a larger one.

    Raises:
        UsageError: ``listen`` is not an address, or TLS files are missing,
            unreadable or not for a ``tls+tcp://`` address.
        ExportError: the address cannot be bound (for example, in use).
    """
    with tempfile.TemporaryDirectory(prefix="nngexport-") as scratch:
        if listen is None:
            listen = f"ipc://{Path(scratch, 'survey.ipc')}"
        planned = listen_plan(listen)
        check_tls(listen, tls, what="listen address")
        tls_config = server_config(tls) if tls is not None else None
        surveyor = pynng.Surveyor0()
        push = pynng.Push0()
        pull = pynng.Pull0()
        ready: list[Coordinator] = []
        token = trio.lowlevel.current_trio_token()

        def pipe_removed(pipe: Any) -> None:
            # Runs on an NNG thread: hand the news to the Trio loop, if any.
            if ready:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(ready[0]._pipe_closed, pipe.id)

        try:
            # Options and callbacks go on before the sockets listen.
            surveyor.add_post_pipe_remove_cb(pipe_removed)
            surveyor.survey_time = round(survey_time * 1000)
            surveyor.recv_max_size = MAX_HELLO_BYTES
            pull.recv_max_size = max_result_bytes
            # Never more than a frame of descriptors would need: push0 only
            # sends, but a limit costs nothing.
            push.recv_max_size = MAX_HELLO_BYTES
            if tls_config is not None:
                for sock in (surveyor, push, pull):
                    sock.tls_config = tls_config
            # So that no operation stays pending for long: see nngexport._nng.
            pull.recv_timeout = round(RECEIVE_TIMEOUT * 1000)
            push.send_timeout = round(SOCKET_TIMEOUT * 1000)
            bound = ListenPlan(
                bound_url(planned.survey, _listen(surveyor, planned.survey)),
                bound_url(planned.tasks, _listen(push, planned.tasks)),
                bound_url(planned.results, _listen(pull, planned.results)),
            )
            coordinator = Coordinator(
                bound, (surveyor, push, pull), survey_time=survey_time, sealer=secret
            )
            ready.append(coordinator)
            # The body runs inside the nursery but its exception is re-raised
            # outside it, so the caller sees its own error, not a group. The
            # loops never raise; cancelled, each stops within its timeout
            # (see nngexport._nng), and only then are the sockets closed.
            body_error: BaseException | None = None
            async with trio.open_nursery() as loops:
                loops.start_soon(coordinator._run_loops)
                try:
                    yield coordinator
                except BaseException as exc:
                    body_error = exc
                finally:
                    coordinator._retire()
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
