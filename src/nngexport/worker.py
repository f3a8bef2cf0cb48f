"""The worker: answers surveys, takes chunk descriptors, renders, sends CSV back.

How it works. A worker dials the coordinator's survey address (without
blocking, so it may start before the coordinator) and runs two things:

- a task that does nothing but answer surveys. It must never wait for
  anything else: a respondent that answers late misses the survey and looks
  dead. Each survey announces the coordinator's pipeline addresses.
- a session per announced pair of addresses: a pull0 socket for descriptors
  and a push0 socket for results. One task takes every descriptor as soon as
  it arrives and tells the coordinator at once (:class:`~nngexport.wire.Taken`),
  so no chunk sits unaccounted for in a socket buffer; ``slots`` tasks take
  descriptors from that local queue and render each in a thread (so surveys
  are still answered during a long chunk). One sender pushes the replies,
  acknowledgements and results alike: whatever is waiting when it is free
  goes out as one :class:`~nngexport.wire.Batch` frame (up to
  :data:`BATCH_BYTES`), since over NNG each frame costs a round of wake-ups
  whatever its size. Every survey answer lists the chunks held, which renews
  their leases. When a survey announces other addresses (a new coordinator),
  the session is closed and a new one opened.

A chunk that cannot be rendered is answered with a
:class:`~nngexport.wire.Failure`; the worker goes on.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pynng
import trio

from . import _nng
from .allow import SourcePolicy
from .auth import Sealer
from .endpoints import check_url, resolve
from .errors import UsageError
from .frames import FrameGate
from .job import Outcome, outcome_of, render_task
from .tls import TlsFiles, check_tls, client_config
from .wire import (
    MAX_BATCH,
    MAX_INDEXES,
    Hello,
    Survey,
    Taken,
    Task,
    Tasks,
    encode,
    encode_batch,
)

logger = logging.getLogger(__name__)

#: Chunks a worker renders at once unless told otherwise.
DEFAULT_SLOTS = 1
#: Largest descriptor or survey frame a worker accepts.
MAX_TASK_BYTES = 64 * 1024
#: Seconds a receive or send may wait before it returns and is tried again.
SOCKET_TIMEOUT = 0.25
#: Replies waiting together are sent as one frame until it holds this many
#: bytes; a larger reply goes alone.
BATCH_BYTES = 256 * 1024
#: A slot renders descriptors waiting together in one trip to its thread,
#: while their planned rows add up to no more than this.
RENDER_BATCH_ROWS = 4096


@dataclass(frozen=True, slots=True)
class _Reply:
    """An encoded reply, and the chunk it answers (None for an acknowledgement)."""

    frame: bytes
    answers: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class WorkerStatistics:
    """Counters of a worker since it started.

    ``malformed``, ``unauthenticated`` and ``stray`` count the frames
    dropped on arrival (see :mod:`nngexport.drops`); ``refused`` the
    descriptors of sources its ``--allow`` patterns do not allow.
    """

    worker: str
    surveys: int
    rendered: int
    failed: int
    malformed: int
    unauthenticated: int = 0
    stray: int = 0
    refused: int = 0


@dataclass(frozen=True, slots=True)
class _Endpoints:
    tasks: str
    results: str


class Worker:
    """The state of a running worker; see :func:`serve_worker`."""

    def __init__(
        self,
        connect: str,
        *,
        slots: int,
        name: str,
        policy: SourcePolicy,
        sealer: Sealer | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.connect = connect
        self.slots = slots
        self.name = name
        self.policy = policy
        self._gate = FrameGate(sealer, logger)
        self._tls = tls
        self.busy = 0
        self._endpoints: _Endpoints | None = None
        # (job, chunk index) of every descriptor taken and not yet answered.
        self._held: set[tuple[str, int]] = set()
        self._endpoints_changed = trio.Event()
        self._surveys = 0
        self._rendered = 0
        self._failed = 0
        self._refused = 0

    def statistics(self) -> WorkerStatistics:
        """Counters since the worker started."""
        return WorkerStatistics(
            self.name,
            self._surveys,
            self._rendered,
            self._failed,
            refused=self._refused,
            **self._gate.drops.counts(),
        )

    async def _answer_surveys(self, respondent: Any) -> None:
        hostname = socket.gethostname()
        # A receive timeout there means no survey for a while: no coordinator.
        while received := await self._gate.receive(respondent):
            survey, peer = received
            if not isinstance(survey, Survey):
                self._gate.stray(peer, f"a {type(survey).__name__} as a survey")
                continue
            self._surveys += 1
            self._announce(survey)
            held = tuple(sorted(i for job, i in self._held if job == survey.job))
            hello = Hello(
                self.name,
                self.slots,
                self.busy,
                os.getpid(),
                hostname,
                survey.job,
                held[:MAX_INDEXES],
            )
            try:
                await _nng.send(respondent, self._gate.seal(encode(hello)))
            except pynng.BadState:
                continue  # that survey is over; answer the next one
            except _nng.CLOSED:
                return

    def _announce(self, survey: Survey) -> None:
        endpoints = _Endpoints(
            resolve(survey.tasks, self.connect), resolve(survey.results, self.connect)
        )
        if endpoints != self._endpoints:
            logger.info(
                "coordinator pipelines at %s and %s", endpoints.tasks, endpoints.results
            )
            self._endpoints = endpoints
            self._endpoints_changed.set()
            self._endpoints_changed = trio.Event()

    async def _run_sessions(self) -> None:
        while True:
            endpoints = self._endpoints
            if endpoints is None:
                await self._endpoints_changed.wait()
                continue
            await self._session(endpoints)

    async def _session(self, endpoints: _Endpoints) -> None:
        tasks = pynng.Pull0()
        results = pynng.Push0()
        try:
            if self._tls is not None:
                config = client_config(self._tls, self.connect)
                tasks.tls_config = config
                results.tls_config = config
            tasks.recv_max_size = MAX_TASK_BYTES
            results.recv_max_size = MAX_TASK_BYTES
            # So that no operation stays pending for long: see nngexport._nng.
            tasks.recv_timeout = round(SOCKET_TIMEOUT * 1000)
            results.send_timeout = round(SOCKET_TIMEOUT * 1000)
            tasks.dial(endpoints.tasks, block=False)
            results.dial(endpoints.results, block=False)
            # Unbounded, but never long: the coordinator's window bounds
            # how many descriptors are out at once.
            queue_in, queue_out = trio.open_memory_channel[Task](math.inf)
            outbox_in, outbox_out = trio.open_memory_channel[_Reply](math.inf)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._take, tasks, queue_in, outbox_in.clone())
                nursery.start_soon(self._send_replies, outbox_out, results)
                for _ in range(self.slots):
                    nursery.start_soon(self._slot, queue_out.clone(), outbox_in.clone())
                queue_out.close()
                outbox_in.close()
                try:
                    while self._endpoints == endpoints:
                        await self._endpoints_changed.wait()
                finally:
                    # Each loop stops within SOCKET_TIMEOUT, a slot once its
                    # chunk is rendered; descriptors not rendered yet are
                    # dropped, and the coordinator re-issues them. The sockets
                    # close after that, below.
                    nursery.cancel_scope.cancel()
        finally:
            _nng.close_all(tasks, results)
            self._held.clear()

    async def _take(
        self,
        tasks: Any,
        queue: trio.MemorySendChannel[Task],
        outbox: trio.MemorySendChannel[_Reply],
    ) -> None:
        # Never waits for anything but the next descriptor: a descriptor left
        # unread in the socket is one the coordinator cannot know we have.
        async with outbox:
            while received := await self._gate.receive(tasks):
                message, peer = received
                if not isinstance(message, Task | Tasks):
                    what = f"a {type(message).__name__} as a task"
                    self._gate.stray(peer, what)
                    continue
                batch = message.split() if isinstance(message, Tasks) else [message]
                try:
                    for task in batch:
                        self._held.add((task.job, task.chunk.index))
                        queue.send_nowait(task)
                        taken = Taken(task.job, task.chunk.index, self.name)
                        outbox.send_nowait(_Reply(encode(taken)))
                except trio.ClosedResourceError:
                    return

    async def _send_replies(
        self, outbox: trio.MemoryReceiveChannel[_Reply], results: Any
    ) -> None:
        # Acknowledgements share the result socket, so they may wait behind
        # results when the coordinator reads slowly; survey answers list
        # what we hold meanwhile.
        async with outbox:
            async for first in outbox:
                replies = [first]
                size = len(first.frame)
                while size < BATCH_BYTES and len(replies) < MAX_BATCH:
                    try:
                        reply = outbox.receive_nowait()
                    except trio.WouldBlock:
                        break
                    replies.append(reply)
                    size += len(reply.frame)
                sent = await _send_patiently(results, self._gate.seal(_pack(replies)))
                for reply in replies:
                    if reply.answers is not None:
                        self._held.discard(reply.answers)
                if not sent:
                    return

    async def _slot(
        self,
        queue: trio.MemoryReceiveChannel[Task],
        outbox: trio.MemorySendChannel[_Reply],
    ) -> None:
        async with queue, outbox:
            async for first in queue:
                # Small chunks waiting together go in one trip to the thread;
                # a large one goes alone, so its result is not held back.
                tasks = [first]
                rows = first.chunk.rows
                while len(tasks) < MAX_BATCH and rows < RENDER_BATCH_ROWS:
                    try:
                        task = queue.receive_nowait()
                    except trio.WouldBlock:
                        break
                    tasks.append(task)
                    rows += task.chunk.rows
                frames = await self._render(tasks)
                try:
                    for task, frame in zip(tasks, frames, strict=True):
                        answers = (task.job, task.chunk.index)
                        outbox.send_nowait(_Reply(frame, answers))
                except trio.ClosedResourceError:
                    return

    async def _render(self, tasks: list[Task]) -> list[bytes]:
        """The encoded Result (or Failure) of each task, made in one thread trip."""
        self.busy += 1
        try:
            replies = await trio.to_thread.run_sync(
                _render_encoded, tasks, self.name, self.policy
            )
        finally:
            self.busy -= 1
        for outcome, _ in replies:
            if outcome is Outcome.REFUSED:
                self._refused += 1
            elif outcome is Outcome.FAILED:
                self._failed += 1
            else:
                self._rendered += 1
        return [frame for _, frame in replies]


def _render_encoded(
    tasks: list[Task], worker: str, policy: SourcePolicy
) -> list[tuple[Outcome, bytes]]:
    # Encoding copies the CSV once more, so it too stays off the event loop.
    replies = []
    for task in tasks:
        reply = render_task(task, worker, policy)
        replies.append((outcome_of(reply), encode(reply)))
    return replies


def _pack(replies: list[_Reply]) -> bytes:
    """One frame for ``replies``: the reply itself if alone, else a Batch."""
    if len(replies) == 1:
        return replies[0].frame
    return encode_batch([reply.frame for reply in replies])


async def _send_patiently(sock: Any, frame: bytes) -> bool:
    """Send ``frame``, retrying send timeouts; False if the socket closed."""
    while True:
        try:
            await _nng.send(sock, frame)
            return True
        except pynng.Timeout:
            continue
        except _nng.CLOSED:
            return False


def default_worker_name() -> str:
    """A name unique enough to tell workers apart in logs and statistics."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


async def serve_worker(
    connect: str,
    *,
    slots: int = DEFAULT_SLOTS,
    name: str | None = None,
    allow: Sequence[str] = (),
    secret: Sealer | None = None,
    tls: TlsFiles | None = None,
    task_status: trio.TaskStatus[Worker] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve as a worker for the coordinator at ``connect`` until cancelled.

    Dials without blocking, so the coordinator may start before or after the
    worker, and keeps serving across coordinator restarts. Reports the
    :class:`Worker` through ``task_status`` once its socket is dialing.

    Args:
        connect: The coordinator's survey address.
        slots: Chunks to render at once.
        name: The worker's name in logs and replies.
        allow: Patterns of the sources this worker may open (see
            :mod:`nngexport.allow`); a descriptor for any other source is
            refused with a Failure. None allows nothing.
        secret: Shared-secret mode (see :mod:`nngexport.auth`).
        tls: For a ``tls+tcp://`` address: this worker's certificate, key
            and the CA that signed the coordinator's (see
            :mod:`nngexport.tls`).

    Raises:
        UsageError: ``connect`` is not an address, ``slots`` is below 1, an
            ``allow`` pattern is empty, or the TLS files do not fit.
    """
    check_url(connect, what="coordinator address")
    check_tls(connect, tls, what="coordinator address")
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise UsageError(f"slots must be a whole number of at least 1, got {slots!r}")
    worker = Worker(
        connect,
        slots=slots,
        name=name or default_worker_name(),
        policy=SourcePolicy(allow),
        sealer=secret,
        tls=tls,
    )
    config = client_config(tls, connect) if tls is not None else None
    respondent = pynng.Respondent0()
    try:
        if config is not None:
            respondent.tls_config = config
        respondent.recv_max_size = MAX_TASK_BYTES
        respondent.recv_timeout = round(SOCKET_TIMEOUT * 1000)
        respondent.dial(connect, block=False)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker._answer_surveys, respondent)
            nursery.start_soon(worker._run_sessions)
            task_status.started(worker)
            await trio.sleep_forever()
    finally:
        # Only now: the survey loop has stopped (see nngexport._nng).
        respondent.close()
