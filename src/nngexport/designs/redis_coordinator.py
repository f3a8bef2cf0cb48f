"""The coordinator of the Redis designs: one run loop, three transports.

How it works. An export runs three tasks over one
:class:`~nngexport.designs.redis_common.RedisBridge`, around the same
sans-I/O :class:`~nngexport.scheduler.Scheduler` and
:class:`~nngexport.sink.OrderedSink` as over NNG:

- the dispatcher takes every chunk the scheduler releases (the window bounds
  them) and hands the batch to the design in one round trip;
- the collector takes results and failures from the design and writes them
  in order. It is the only reader: a slow disk makes it slow, which is what
  a slow consumer means for each design;
- the ticker, every :data:`TICK`, asks Redis who is live (liveness keys),
  whether Redis still holds this export (the ``epoch`` key: gone means Redis
  restarted with no data), and what the design knows of the chunks in flight
  (claims, chunks taken back, chunks given up). It then expires leases, for
  the one design (Pub/Sub) whose coordinator keeps them.

When Redis cannot be reached, every task retries; after ``redis_timeout``
seconds of that, the export fails. Failures are stored and end the run by
cancelling its nursery, and :meth:`RedisRun.run` raises them as plain
:class:`~nngexport.errors.ExportError`\\ s.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import trio

from ..defaults import DEFAULT_PREFIX, MAX_ATTEMPTS
from ..destination import Destination
from ..drops import Drops
from ..errors import (
    ChunkFailedError,
    ExportError,
    NoWorkersError,
    ProtocolError,
    UsageError,
)
from ..job import JobPlan, ProgressCallback
from ..progress import ExportSummary
from ..run import RunStatistics
from ..scheduler import Outcome, Scheduler, window_for
from ..sink import OrderedSink
from ..wire import Failure, Result, Task, decode, encode
from .redis_common import (
    HEARTBEAT_INTERVAL,
    Keys,
    LiveWorker,
    RedisBridge,
    RedisUnavailable,
    live_workers,
    wait_for_workers,
)
from .transport import Check, CoordinatorHalf

logger = logging.getLogger(__name__)

#: Who sent a message that came through Redis, for the drop log.
_REDIS_PEER = "a Redis client"

#: Seconds between looks at Redis (liveness, claims, dead workers).
TICK = HEARTBEAT_INTERVAL
#: Seconds an export waits for an unreachable Redis before it fails.
REDIS_TIMEOUT = 15.0
#: Seconds between tries while Redis cannot be reached.
RETRY_INTERVAL = 0.1
#: Seconds a chunk in flight may be nowhere in Redis (see Check.missing)
#: before it is sent again: a result popped and on its way arrives in far
#: less; one whose reply was lost never does.
MISSING_GRACE = 1.0

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Look:
    epoch: bytes | None
    live: list[LiveWorker]
    check: Check


class RedisRun:
    """One running export over a Redis design; see the module docstring."""

    def __init__(
        self,
        plan: JobPlan,
        sink: OrderedSink,
        scheduler: Scheduler,
        half: CoordinatorHalf,
        bridge: RedisBridge,
        keys: Keys,
        *,
        max_attempts: int,
        worker_timeout: float,
        redis_timeout: float,
    ) -> None:
        self.plan = plan
        self._sink = sink
        self._scheduler = scheduler
        self._half = half
        self._bridge = bridge
        self._keys = keys
        self._max_attempts = max_attempts
        self._worker_timeout = worker_timeout
        self._redis_timeout = redis_timeout
        self._wake = trio.Event()
        self._failure: ExportError | None = None
        self._scope: trio.CancelScope | None = None
        self._down_since: dict[str, float] = {}
        self._last_seen: dict[str, float] = {}
        self._live: set[str] = set()
        self._holder: dict[int, str] = {}
        self._sent_at: dict[int, float] = {}
        # Completed sends of each chunk in flight, and the chunks being sent.
        self._sends: dict[int, int] = {}
        self._sending: set[int] = set()
        # Batches of results received so far, whether one is being handled,
        # and since when each chunk has been missing from Redis.
        self._received = 0
        self._handling = False
        self._missing_since: dict[int, float] = {}
        self._taken_back = 0
        self._workers_lost = 0
        self._recoveries: list[float] = []
        self.redis_restarts = 0
        self.drops = Drops(logger)

    def statistics(self) -> RunStatistics:
        """What this export recovered from so far."""
        stats = self._scheduler.statistics()
        return RunStatistics(
            reissued=stats.reissued + self._taken_back,
            duplicates=stats.duplicates,
            workers_lost=self._workers_lost,
            recoveries=tuple(self._recoveries),
        )

    async def run(self) -> None:
        """Dispatch and collect until every chunk is written, or raise."""
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            nursery.start_soon(self._guard, self._dispatch)
            nursery.start_soon(self._guard, self._tick)
            await self._guard(self._collect)
            nursery.cancel_scope.cancel()
        if self._failure is not None:
            raise self._failure

    async def _guard(self, loop: Callable[[], Awaitable[None]]) -> None:
        try:
            await loop()
        except ExportError as exc:
            self._fail(exc)

    def _fail(self, error: ExportError) -> None:
        if self._failure is None:
            self._failure = error
        if self._scope is not None:
            self._scope.cancel()

    def _kick(self) -> None:
        self._wake.set()
        self._wake = trio.Event()

    async def _redis(self, function: Callable[[Any], _T], *, task: str) -> _T:
        """``function(client)`` in a thread, retried while Redis is away.

        Each ``task`` has its own clock, so one that keeps failing (say, on
        a key some other program holds with another type) fails the export
        after ``redis_timeout`` even while the others succeed.
        """
        while True:
            try:
                result = await self._bridge.call(function)
            except RedisUnavailable as exc:
                now = trio.current_time()
                since = self._down_since.setdefault(task, now)
                if since == now:
                    logger.warning("%s; retrying", exc)
                elif now - since >= self._redis_timeout:
                    raise RedisUnavailable(
                        f"Redis at {self._bridge.url} could not be used for"
                        f" {self._redis_timeout:g} s: {exc};"
                        f" {self._sink.written} of {len(self.plan.chunks)} chunks"
                        " were written"
                    ) from None
                await trio.sleep(RETRY_INTERVAL)
                continue
            self._down_since.pop(task, None)
            return result

    # -- the three tasks ------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            batch = []
            written = self._sink.written
            while (index := self._scheduler.next_chunk(written=written)) is not None:
                batch.append(index)
            if not batch:
                await self._wake.wait()
                continue
            frames = [
                (i, encode(Task(self.plan.job, self.plan.source, self.plan.chunks[i])))
                for i in batch
            ]
            logger.debug("dispatching chunk(s) %s", batch)
            self._sending.update(batch)
            try:
                await self._redis(
                    functools.partial(self._half.send, tasks=frames), task="dispatch"
                )
            finally:
                self._sending.difference_update(batch)
            now = trio.current_time()
            for index in batch:
                self._scheduler.sent(index, now=now)
                self._sent_at.setdefault(index, now)
                self._sends[index] = self._sends.get(index, 0) + 1
                self._sink.mark_sent(index, now=now)

    async def _collect(self) -> None:
        while not self._sink.done:
            frames = await self._redis(self._half.receive, task="collect")
            if not frames:
                continue
            self._received += 1
            self._handling = True
            try:
                for frame in frames:
                    await self._handle(frame)
            finally:
                self._handling = False
            self._kick()

    async def _handle(self, frame: bytes) -> None:
        # Redis names no sender: every drop is one peer's, "a Redis client".
        try:
            message = decode(frame)
        except ProtocolError as exc:
            self.drops.drop("malformed", _REDIS_PEER, exc)
            return
        if not isinstance(message, Result | Failure):
            self.drops.drop("stray", _REDIS_PEER, f"a {type(message).__name__}")
            return
        if message.job != self.plan.job:
            self.drops.drop("stray", _REDIS_PEER, f"a reply for job {message.job!r}")
            return
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
            return
        outcome = self._scheduler.complete(
            message.index, message.worker, now=now, size=len(message.data)
        )
        if outcome is Outcome.ACCEPTED:
            self._sent_at.pop(message.index, None)
            self._sends.pop(message.index, None)
            self._holder.pop(message.index, None)
            before = self._sink.written
            await self._sink.deliver(message.index, message.rows, message.data)
            done = list(range(before, self._sink.written))
            if done:
                await self._redis(
                    lambda client: self._half.written(client, done), task="collect"
                )
        elif outcome is Outcome.DUPLICATE:
            logger.info(
                "dropped a duplicate of chunk %s from %s", message.index, message.worker
            )
            self._sink.report_recovery()
        else:
            self.drops.drop("stray", _REDIS_PEER, f"a result for chunk {message.index}")

    async def _tick(self) -> None:
        while True:
            await trio.sleep(TICK)
            # Only chunks whose latest send is complete: a claim seen for a
            # chunk being sent again may be its last attempt's.
            sends = {
                index: self._sends.get(index, 0)
                for index in self._scheduler.in_flight()
                if index not in self._sending
            }
            received = self._received
            look = await self._redis(
                functools.partial(self._look, in_flight=[*sends]), task="tick"
            )
            now = trio.current_time()
            # Results popped while Redis was looked at, or still being
            # handled, are in no list and in no scheduler state that says so.
            if not self._handling and self._received == received:
                self._follow_missing(look.check.missing, now)
            if look.epoch is None:
                await self._restore(now)
            self._follow_workers(look.live, now)
            look.check.claims = {
                index: worker
                for index, worker in look.check.claims.items()
                if index not in self._sending
                and self._sends.get(index, 0) == sends[index]
            }
            self._apply(look.check, now)
            expired = self._scheduler.expire(now=now)
            if expired:
                logger.warning(
                    "chunk(s) %s unclaimed for too long; sending them again",
                    ", ".join(map(str, expired)),
                )
                for index in expired:
                    # From the holder's last sign of life, or if nobody was
                    # seen holding it, from when it was first sent.
                    seen = self._last_seen.get(self._holder.pop(index, ""))
                    since = seen if seen is not None else self._sent_at.get(index)
                    if since is not None:
                        self._recoveries.append(now - since)
            self._check_failure()
            self._sink.report_recovery()
            self._kick()

    def _look(self, client: Any, in_flight: list[int]) -> _Look:
        epoch = client.get(self._keys.epoch)
        return _Look(
            epoch, live_workers(client, self._keys), self._half.check(client, in_flight)
        )

    async def _restore(self, now: float) -> None:
        self.redis_restarts += 1
        lost = self._scheduler.requeue_in_flight(now=now, cause="Redis lost its data")
        logger.warning(
            "Redis at %s holds nothing of this export any more (restarted with no"
            " persistence?); sending the %s chunk(s) in flight again",
            self._bridge.url,
            len(lost),
        )
        await self._redis(
            lambda client: self._half.restore(
                client, self.plan.job, max_attempts=self._max_attempts
            ),
            task="tick",
        )

    def _follow_missing(self, missing: list[int], now: float) -> None:
        """Send again the chunks missing from Redis for MISSING_GRACE seconds."""
        self._missing_since = {i: self._missing_since.get(i, now) for i in missing}
        overdue = [
            index
            for index, first in self._missing_since.items()
            if now - first >= MISSING_GRACE
        ]
        if not overdue:
            return
        lost = self._scheduler.requeue_in_flight(
            now=now, cause="its result was lost in Redis", indexes=overdue
        )
        for index in overdue:
            self._missing_since.pop(index, None)
        if lost:
            logger.warning(
                "chunk(s) %s are nowhere in Redis (a result taken whose reply"
                " was lost?); sending them again",
                ", ".join(map(str, lost)),
            )

    def _follow_workers(self, live: list[LiveWorker], now: float) -> None:
        names = {worker.name for worker in live}
        for gone in self._live - names:
            self._workers_lost += 1
            logger.warning("worker %s is no longer live", gone)
        self._live = names
        for worker in live:
            self._last_seen[worker.name] = now - worker.age
        self._sink.workers = max(self._sink.workers, len(live))
        slots = sum(worker.slots for worker in live)
        if self._scheduler.follow_capacity(slots, now=now) >= self._worker_timeout:
            self._fail(
                NoWorkersError(
                    f"no worker has been live for {self._worker_timeout:g} s;"
                    f" {self._sink.written} of {len(self.plan.chunks)} chunks"
                    " were written"
                )
            )

    def _apply(self, check: Check, now: float) -> None:
        for index, worker in check.claims.items():
            self._scheduler.taken(index, worker, now=now)
            self._holder[index] = worker
        for index, former in check.taken_back:
            self._taken_back += 1
            logger.warning("chunk %s was taken back from worker %s", index, former)
            seen = self._last_seen.get(former or "")
            if seen is not None:
                self._recoveries.append(now - seen)
        if check.given_up:
            first = check.given_up[0]
            self._fail(
                ChunkFailedError(f"chunk {first.index} was given up: {first.reason}")
            )

    def _check_failure(self) -> None:
        failure = self._scheduler.failure
        if failure is not None:
            self._fail(ChunkFailedError(failure.describe()))


class RedisCoordinator:
    """A coordinator for one Redis design; see :func:`open_redis_coordinator`."""

    def __init__(self, design: str, bridge: RedisBridge, keys: Keys) -> None:
        self.design = design
        self.url = bridge.url
        self._bridge = bridge
        self._keys = keys
        self._running = False

    @property
    def prefix(self) -> str:
        """The key prefix of this coordinator's exports."""
        return self._keys.prefix

    async def workers(self) -> list[LiveWorker]:
        """The workers whose liveness key exists now."""
        return await self._bridge.call(lambda client: live_workers(client, self._keys))

    async def wait_for_workers(self, count: int, *, timeout: float) -> list[LiveWorker]:
        """Wait until ``count`` workers are live; NoWorkersError after ``timeout``."""
        return await wait_for_workers(self._bridge, self._keys, count, timeout=timeout)

    async def export_plan(
        self,
        plan: JobPlan,
        destination: Destination,
        *,
        started: float,
        min_workers: int = 1,
        discover_timeout: float,
        worker_timeout: float,
        max_attempts: int = MAX_ATTEMPTS,
        redis_timeout: float = REDIS_TIMEOUT,
        on_progress: ProgressCallback | None = None,
        last: bool = False,
    ) -> ExportSummary:
        """Run a planned export into an open destination (as the NNG coordinator's).

        Takes ownership of ``destination``: commits it on success, closes it
        (keeping it for resume if any chunk was written) otherwise. ``last``
        is accepted for symmetry and changes nothing: this coordinator runs
        no loop outside its exports, so there is nothing to wind down.
        """
        from .registry import HALVES

        sink = OrderedSink(plan, destination, on_progress=on_progress)
        half: CoordinatorHalf | None = None
        try:
            if self._running:
                raise ExportError("this coordinator is already running an export")
            self._running = True
            live = await self.wait_for_workers(min_workers, timeout=discover_timeout)
            sink.workers = len(live)
            half = HALVES[self.design][0](self._bridge.client, self._keys)
            started_half = half
            await self._bridge.call(
                lambda client: started_half.start(
                    client, plan.job, max_attempts=max_attempts
                )
            )
            scheduler = Scheduler(
                len(plan.chunks),
                window=window_for(sum(worker.slots for worker in live)),
                ack_timeout=half.ack_timeout,
                lease_time=half.lease_time,
                grow_window=half.grows_window,
                max_attempts=max_attempts,
                start=sink.start,
            )
            run = RedisRun(
                plan,
                sink,
                scheduler,
                half,
                self._bridge,
                self._keys,
                max_attempts=max_attempts,
                worker_timeout=worker_timeout,
                redis_timeout=redis_timeout,
            )
            sink.statistics = run.statistics
            await sink.write_header()
            await run.run()
            summary = await sink.commit(started=started)
            dropped = tuple(run.drops.counts().items())
            return dataclasses.replace(summary, dropped=dropped)
        except BaseException:
            await sink.close()
            raise
        finally:
            self._running = False
            if half is not None:
                half.close()


@asynccontextmanager
async def open_redis_coordinator(
    redis: str, design: str, *, prefix: str = DEFAULT_PREFIX
) -> AsyncIterator[RedisCoordinator]:
    """Open a coordinator for Redis design ``design`` on the server at ``redis``.

    Raises:
        UsageError: an unknown design or a malformed Redis URL.
        RedisUnavailable: Redis cannot be reached.
    """
    from .registry import HALVES

    if design not in HALVES:
        raise UsageError(
            f"unknown Redis design {design!r}; choose one of {', '.join(HALVES)}"
        )
    bridge = RedisBridge(redis)
    try:
        try:
            await bridge.call(lambda client: client.ping())
        except RedisUnavailable as exc:
            raise RedisUnavailable(
                f"{exc}; is redis-server running there? (--redis URL)"
            ) from None
        yield RedisCoordinator(design, bridge, Keys.of(prefix, design))
    finally:
        bridge.close()
