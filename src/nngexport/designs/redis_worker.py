"""A worker for the Redis designs: the same rendering, a different transport.

How it works. Three kinds of task share one :class:`~nngexport.designs.
redis_common.RedisBridge`:

- the heartbeat refreshes the worker's liveness key every
  :data:`~nngexport.designs.redis_common.HEARTBEAT_INTERVAL` and, in the same
  round trip, the design's own renewals of what the worker holds;
- the feeder takes descriptors through the design's worker half while there
  is room (twice the slots, as over NNG: one rendering, one queued), and
  puts them on a local queue. A Pub/Sub feeder reads even with no room, or
  Redis would cut it off;
- ``slots`` tasks render what the feeder queued, each in a thread, and hand
  the result (or the failure) back through the design.

Redis going away is waited out: every Redis call is retried until it works
(the coordinator decides when an export has waited too long). A result that
cannot be handed back for :data:`ANSWER_PATIENCE` seconds is dropped; its
chunk goes out again from the coordinator's side.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import trio

from ..allow import SourcePolicy
from ..defaults import DEFAULT_PREFIX
from ..errors import UsageError
from ..job import render_task
from ..wire import Failure, Result, encode
from .redis_common import (
    Keys,
    RedisBridge,
    RedisUnavailable,
    serve_heartbeat,
)
from .transport import Held, WorkerHalf

logger = logging.getLogger(__name__)

#: Seconds between tries while Redis cannot be reached.
RETRY_INTERVAL = 0.1
#: Seconds a worker keeps trying to hand back one result.
ANSWER_PATIENCE = 30.0

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RedisWorkerStatistics:
    """Counters of a Redis design worker since it started."""

    worker: str
    rendered: int
    failed: int
    redis_errors: int


async def patiently(
    function: Callable[[], Awaitable[_T]],
    *,
    patience: float = math.inf,
    on_error: Callable[[RedisUnavailable], object] | None = None,
) -> _T:
    """``await function()``, retried while Redis is away, for up to ``patience`` s.

    Raises:
        trio.TooSlowError: Redis stayed away for ``patience`` seconds.
    """
    failures = 0
    with trio.fail_after(patience):
        while True:
            try:
                return await function()
            except RedisUnavailable as exc:
                if on_error is not None:
                    on_error(exc)
                if failures % 50 == 0:
                    logger.warning("%s; retrying", exc)
                failures += 1
                await trio.sleep(RETRY_INTERVAL)


class RedisWorker:
    """A running Redis design worker; see :func:`serve_redis_worker`."""

    def __init__(
        self,
        bridge: RedisBridge,
        half: WorkerHalf,
        *,
        name: str,
        slots: int,
        policy: SourcePolicy,
    ) -> None:
        self.policy = policy
        self.name = name
        self.slots = slots
        self._bridge = bridge
        self._half = half
        self._held: list[Held] = []
        self._room_freed = trio.Event()
        self._rendered = 0
        self._failed = 0
        self._redis_errors = 0

    def statistics(self) -> RedisWorkerStatistics:
        """Counters since the worker started."""
        return RedisWorkerStatistics(
            self.name, self._rendered, self._failed, self._redis_errors
        )

    def held(self) -> list[Held]:
        """What the worker took and has not answered yet."""
        return list(self._held)

    def _redis_error(self, exc: RedisUnavailable) -> None:
        self._redis_errors += 1

    async def _feed(self, queue: trio.MemorySendChannel[Held]) -> None:
        capacity = 2 * self.slots
        while True:
            room = capacity - len(self._held)
            if room <= 0 and not self._half.reads_always:
                await self._room_freed.wait()
                continue
            taken = await patiently(
                lambda: self._bridge.call(
                    # Read in the worker thread, after any wait: len() of
                    # a list is safe to read there.
                    lambda client: self._half.take(
                        client, lambda: capacity - len(self._held)
                    )
                ),
                on_error=self._redis_error,
            )
            for held in taken:
                self._held.append(held)
                queue.send_nowait(held)

    async def _slot(self, queue: trio.MemoryReceiveChannel[Held]) -> None:
        async for held in queue:
            frame = encode(await self._render(held))
            # Room first: the answer can bring the next descriptor before
            # the call that sent it returns (Pub/Sub drops it without room).
            self._held.remove(held)
            self._room_freed.set()
            self._room_freed = trio.Event()
            try:
                answer = functools.partial(self._half.answer, held=held, frame=frame)
                await patiently(
                    functools.partial(self._bridge.call, answer),
                    patience=ANSWER_PATIENCE,
                    on_error=self._redis_error,
                )
            except trio.TooSlowError:
                logger.warning(
                    "could not hand back chunk %s for %g s; dropping it",
                    held.task.chunk.index,
                    ANSWER_PATIENCE,
                )

    async def _render(self, held: Held) -> Result | Failure:
        reply = await trio.to_thread.run_sync(
            render_task, held.task, self.name, self.policy
        )
        if isinstance(reply, Failure):
            self._failed += 1
        else:
            self._rendered += 1
        return reply


async def serve_redis_worker(
    design: str,
    redis: str,
    *,
    slots: int = 1,
    name: str,
    prefix: str = DEFAULT_PREFIX,
    allow: Sequence[str] = (),
    task_status: trio.TaskStatus[RedisWorker] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve as a worker of Redis design ``design`` at ``redis`` until cancelled.

    Waits for Redis if it is not up yet, and outlives Redis restarts.
    Reports the :class:`RedisWorker` through ``task_status`` once it is
    registered and taking work.

    ``allow`` holds the patterns of the sources it may open (see
    :mod:`nngexport.allow`); descriptors for others are refused.

    Raises:
        UsageError: an unknown design, a bad Redis URL, ``slots`` below 1, or
            an empty ``allow`` pattern.
    """
    from .registry import HALVES

    if design not in HALVES:
        raise UsageError(
            f"unknown Redis design {design!r}; choose one of {', '.join(HALVES)}"
        )
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise UsageError(f"slots must be a whole number of at least 1, got {slots!r}")
    policy = SourcePolicy(allow)
    bridge = RedisBridge(redis)
    keys = Keys.of(prefix, design)
    make = HALVES[design][1]
    try:
        half = await patiently(
            lambda: bridge.call(lambda client: make(client, keys, name))
        )
        worker = RedisWorker(bridge, half, name=name, slots=slots, policy=policy)
        queue_in, queue_out = trio.open_memory_channel[Held](math.inf)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    serve_heartbeat,
                    bridge,
                    keys,
                    name,
                    slots,
                    lambda pipe: half.renew(pipe, worker.held()),
                )
                nursery.start_soon(worker._feed, queue_in)
                for _ in range(slots):
                    nursery.start_soon(worker._slot, queue_out.clone())
                queue_out.close()
                task_status.started(worker)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                held = worker.held()
                if held:
                    try:
                        await bridge.call(lambda client: half.leave(client, held))
                    except RedisUnavailable as exc:
                        logger.warning("could not hand back unfinished work: %s", exc)
            half.close()
    finally:
        bridge.close()
