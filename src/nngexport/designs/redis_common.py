"""What the Redis designs share: a Trio bridge to redis-py, keys, and workers.

Why threads. redis-py's asyncio client runs on asyncio only, trio-asyncio
would put a second event loop under every call, and there is no maintained
Trio-native Redis client. redis-py's blocking client with hiredis is the
reference client and is thread-safe through its connection pool, so each call
(usually a whole pipeline, one round trip) runs in a Trio worker thread via
``trio.to_thread.run_sync``. The thread hop costs tens of microseconds, which
pipelining amortises. Blocking commands (``BLMOVE``, ``XREADGROUP BLOCK``,
``get_message``) always carry a short timeout (:data:`BLOCK_SECONDS`), so a
cancelled call returns within that time: no thread is ever abandoned mid-
command, and nothing waits forever.

Workers announce themselves the same way in every design: each refreshes a
key ``PREFIX:alive:NAME`` (value: its slots) with a time-to-live of
:data:`ALIVE_TTL`, every :data:`HEARTBEAT_INTERVAL`, and adds its name to the
set ``PREFIX:workers``. A worker is live while its key exists; Redis's own
clock expires it, so the coordinator and workers need no shared clock. That
makes ``--min-workers`` mean the same thing as over NNG.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import trio

from ..defaults import DEFAULT_PREFIX
from ..errors import ExportError, NoWorkersError, UsageError

logger = logging.getLogger(__name__)

#: Longest a blocking Redis command waits before returning empty-handed.
BLOCK_SECONDS = 0.2
#: Time-to-live of a worker's liveness key.
ALIVE_TTL = 1.0
#: How often a worker refreshes its liveness key.
HEARTBEAT_INTERVAL = 0.25
#: Seconds past a command's own timeout before a silent socket counts as dead.
SOCKET_TIMEOUT = 5.0

_T = TypeVar("_T")


class RedisUnavailable(ExportError):
    """Redis cannot be reached, refused a command, or did not come back in time."""


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise UsageError(
            "the Redis designs need redis-py: pip install 'nngexport[redis]'"
        ) from None
    return redis


class RedisBridge:
    """redis-py's blocking client, called from Trio through worker threads.

    One bridge holds one connection pool; calls running at the same time use
    different connections. redis-py retries a failed command once after
    reconnecting; a longer outage surfaces as :class:`RedisUnavailable` and
    the caller decides how long to keep trying.
    """

    def __init__(self, url: str) -> None:
        redis = _import_redis()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        # Every redis-py error: a lost connection, a timeout, or a command
        # Redis refused (say, while it loads its append-only file).
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        try:
            self.client = redis.Redis.from_url(
                url,
                # Blocking commands carry their own, shorter timeout; this one
                # only ends a call whose server vanished without closing.
                socket_timeout=BLOCK_SECONDS + SOCKET_TIMEOUT,
                socket_connect_timeout=2,
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as exc:
            raise UsageError(f"Redis URL {url!r} is not valid: {exc}") from None

    async def call(self, function: Callable[[Any], _T]) -> _T:
        """Run ``function(client)`` in a thread; Redis errors become ExportError."""
        return await trio.to_thread.run_sync(self.run, function)

    def run(self, function: Callable[[Any], _T]) -> _T:
        """``function(client)``, here and now (blocks); errors as in :meth:`call`."""
        try:
            return function(self.client)
        except self._errors as exc:
            raise RedisUnavailable(f"Redis at {self.url} failed: {exc}") from None

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


@dataclass(frozen=True, slots=True)
class Keys:
    """The key and channel names of one prefix.

    Two exports may share a Redis server only with two prefixes.
    """

    prefix: str = DEFAULT_PREFIX

    @classmethod
    def of(cls, prefix: str, design: str) -> Keys:
        """The keys of ``design`` under ``prefix``: ``PREFIX:DESIGN:...``.

        Each design has keys of its own, so workers of one design never
        count as live for another, and a stream left by one is never read
        as a list by the next.
        """
        return cls(f"{prefix}:{design}")

    @property
    def workers(self) -> str:
        """Set: names of workers that announced themselves."""
        return f"{self.prefix}:workers"

    def alive(self, worker: str) -> str:
        """String with a TTL: the worker is live while it exists."""
        return f"{self.prefix}:alive:{worker}"

    @property
    def epoch(self) -> str:
        """String: the running job's id. Gone means Redis lost its data."""
        return f"{self.prefix}:epoch"

    @property
    def limits(self) -> str:
        """Hash: settings workers read (``max_deliveries``)."""
        return f"{self.prefix}:limits"

    @property
    def tasks(self) -> str:
        """Stream or list of chunk descriptors; or the Pub/Sub task channel."""
        return f"{self.prefix}:tasks"

    @property
    def results(self) -> str:
        """Stream or sorted set of results; or the Pub/Sub result channel."""
        return f"{self.prefix}:results"

    @property
    def dead(self) -> str:
        """Stream: descriptors delivered too often (Streams design)."""
        return f"{self.prefix}:dead"

    def processing(self, worker: str) -> str:
        """List: what ``worker`` took and has not answered (Lists design)."""
        return f"{self.prefix}:processing:{worker}"

    @property
    def processors(self) -> str:
        """Set: workers that may have a processing list (Lists design)."""
        return f"{self.prefix}:processors"

    def claim(self, job: str, index: int) -> str:
        """String with a TTL: who renders chunk ``index`` (Pub/Sub design)."""
        return f"{self.prefix}:claim:{job}:{index}"


@dataclass(frozen=True, slots=True)
class LiveWorker:
    """A worker whose liveness key exists.

    Attributes:
        name: The worker's name.
        slots: Chunks it renders at once.
        age: Seconds since its latest heartbeat, when it was looked up.
    """

    name: str
    slots: int
    age: float = 0.0


def heartbeat(
    client: Any,
    keys: Keys,
    worker: str,
    slots: int,
    also: Callable[[Any], None] | None = None,
) -> None:
    """Refresh ``worker``'s liveness key, plus ``also(pipe)``'s commands (one trip)."""
    with client.pipeline(transaction=False) as pipe:
        pipe.set(keys.alive(worker), slots, px=round(ALIVE_TTL * 1000))
        pipe.sadd(keys.workers, worker)
        if also is not None:
            also(pipe)
        pipe.execute()


def natural(value: object, default: int | None = None) -> int | None:
    """A non-negative integer in ASCII digits from a Redis value, else ``default``.

    Anyone who can write to Redis can write anything, so a field nngexport
    reads back is parsed here, never with a bare ``int()``.
    """
    if isinstance(value, bytes | bytearray):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return default
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and len(value) < 20
    ):
        return int(value)
    return default


def live_workers(client: Any, keys: Keys) -> list[LiveWorker]:
    """The workers whose liveness key exists; forget the others (two trips)."""
    names = sorted(name.decode() for name in client.smembers(keys.workers))
    if not names:
        return []
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.get(keys.alive(name))
            pipe.pttl(keys.alive(name))
        replies = pipe.execute()
    live = []
    gone = []
    for name, value, ttl in zip(names, replies[::2], replies[1::2], strict=True):
        if value is None or ttl < 0:
            gone.append(name)
            continue
        # The key was set ALIVE_TTL ago at most: its remaining time to live
        # says when, by Redis's own clock.
        age = max(ALIVE_TTL - ttl / 1000, 0.0)
        slots = natural(value)
        if slots is None or slots < 1:
            logger.warning(
                "ignoring worker %s: its slots %r are not a number", name, value
            )
            gone.append(name)
            continue
        live.append(LiveWorker(name, slots, age))
    if gone:
        client.srem(keys.workers, *gone)
    return live


def leave(client: Any, keys: Keys, worker: str) -> None:
    """Remove ``worker``'s liveness key on a clean exit."""
    with client.pipeline(transaction=False) as pipe:
        pipe.delete(keys.alive(worker))
        pipe.srem(keys.workers, worker)
        pipe.execute()


async def wait_for_workers(
    bridge: RedisBridge, keys: Keys, count: int, *, timeout: float
) -> list[LiveWorker]:
    """Wait until ``count`` workers are live; NoWorkersError after ``timeout``."""
    live: list[LiveWorker] = []
    with trio.move_on_after(timeout):
        # Liveness lives in Redis: nothing can wake us, so look each heartbeat.
        while len(live := await bridge.call(lambda c: live_workers(c, keys))) < count:  # noqa: ASYNC110
            await trio.sleep(HEARTBEAT_INTERVAL)
        return live
    raise NoWorkersError(
        f"only {len(live)} of {count} worker(s) registered within {timeout:g} s"
        f" in Redis at {bridge.url}; start workers with 'nngexport worker"
        f" --design DESIGN --redis {bridge.url} --allow PATTERN'"
    )


async def serve_heartbeat(
    bridge: RedisBridge,
    keys: Keys,
    worker: str,
    slots: int,
    also: Callable[[Any], None] | None = None,
) -> None:
    """Keep ``worker`` live until cancelled; remove it on the way out.

    ``also(pipe)`` adds a design's own renewals (leases, claims) to each beat.
    """
    try:
        while True:
            try:
                await bridge.call(lambda c: heartbeat(c, keys, worker, slots, also))
            except RedisUnavailable as exc:
                logger.warning("heartbeat failed, retrying: %s", exc)
            await trio.sleep(HEARTBEAT_INTERVAL)
    finally:
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(1),
            contextlib.suppress(RedisUnavailable),
        ):
            await bridge.call(lambda c: leave(c, keys, worker))
