"""The Redis Pub/Sub design: descriptors and results PUBLISHed, claims with SET NX.

Pub/Sub keeps nothing. A message reaches the subscribers connected when it is
published and no one else; a subscriber that reads slower than messages come
is cut off by ``client-output-buffer-limit pubsub`` (redis-py then quietly
subscribes again, and what was sent meanwhile is gone). So this design's
guarantee is the coordinator's own, as with NNG:

- Every worker receives every descriptor. One with a free slot claims the
  chunk with ``SET claim:JOB:INDEX NAME NX PX``; the others drop it. The
  heartbeat renews the claims a worker holds; once answered, a claim is no
  longer renewed and expires.
- The coordinator leases each chunk itself (the shared
  :class:`~nngexport.scheduler.Scheduler`): it looks at the claims of the
  chunks in flight every tick, and a chunk with no claim for the lease time
  (its worker died, nobody had room, the result was lost on the way back) is
  published again, up to ``max_attempts`` times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ProtocolError
from ..wire import Task, decode_as
from .redis_common import BLOCK_SECONDS, SOCKET_TIMEOUT, Keys
from .transport import Check, Held

logger = logging.getLogger(__name__)

#: Milliseconds a claim lives unless its worker's heartbeat renews it (4
#: heartbeats: a busy worker's heartbeat can be late on a loaded machine).
CLAIM_TTL_MS = 1000
#: Seconds the coordinator keeps a chunk after last seeing its claim: time
#: for a result already sent to arrive. Only checked right after a look at
#: the claims, so a late look never expires a chunk whose claim still stands.
LEASE_TIME = 0.5
#: Seconds a published chunk may go unclaimed before it is published again.
ACK_TIMEOUT = 2.0
#: Messages read in one go after the first one arrives.
DRAIN = 256

# Claim the first free chunks among KEYS, at most ARGV[3] of them.
_CLAIM = """
local won = {}
for i, key in ipairs(KEYS) do
    if #won >= tonumber(ARGV[3]) then break end
    if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
        won[#won + 1] = i
    end
end
return won
"""
# Delete a claim only if it is still ours: after a stall, it may not be.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
# Extend every claim that is still ours.
_RENEW = """
for _, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[1] then
        redis.call('PEXPIRE', key, ARGV[2])
    end
end
return 0
"""


def _read(pubsub: Any, confirmations: list[int]) -> list[bytes]:
    """Messages on ``pubsub``: wait BLOCK_SECONDS for one, then take what is there.

    redis-py reads a message with the timeout it was asked to wait, per
    ``recv``: a large message still arriving when that short timeout runs
    out is a timeout error, and redis-py drops the connection, and with it
    every message queued behind. So this waits for the first byte with the
    short timeout, and reads each message with the long socket timeout.
    """
    import redis

    frames: list[bytes] = []
    wait = BLOCK_SECONDS
    for _ in range(DRAIN):
        connection = pubsub.connection
        try:
            if not connection.can_read(timeout=wait):
                break
        except redis.ConnectionError:
            # Lost (Redis restarted, or cut us off): connect again; redis-py
            # subscribes again on connect, and says so with a message.
            connection.disconnect()
            connection.connect()
            continue
        wait = 0.0
        message = pubsub.get_message(timeout=SOCKET_TIMEOUT)
        if message is None:
            continue
        if message["type"] == "message":
            frames.append(bytes(message["data"]))
        elif message["type"] == "subscribe":
            confirmations.append(1)
    return frames


def _subscribe(client: Any, channel: str) -> Any:
    """A PubSub subscribed to ``channel``, once Redis confirmed it."""
    pubsub = client.pubsub()
    pubsub.subscribe(channel)
    while (message := pubsub.get_message(timeout=BLOCK_SECONDS)) is None or message[
        "type"
    ] != "subscribe":
        pass
    return pubsub


class PubSubCoordinator:
    """The coordinator's half: publish, listen, look at claims."""

    lease_time = LEASE_TIME
    ack_timeout = ACK_TIMEOUT
    # A descriptor published while every slot is busy is claimed by nobody.
    grows_window = False

    def __init__(self, client: Any, keys: Keys) -> None:
        self._keys = keys
        self._job = ""
        self._pubsub: Any = None
        # One entry per subscribe confirmation; more than one means redis-py
        # subscribed again after the connection was lost or cut off.
        self._confirmations: list[int] = []
        self.resubscribed = 0

    def start(self, client: Any, job: str, *, max_attempts: int) -> None:
        self._job = job
        client.set(self._keys.epoch, job)
        if self._pubsub is None:
            self._pubsub = _subscribe(client, self._keys.results)

    def restore(self, client: Any, job: str, *, max_attempts: int) -> None:
        client.set(self._keys.epoch, job)

    def send(self, client: Any, tasks: Sequence[tuple[int, bytes]]) -> None:
        with client.pipeline(transaction=False) as pipe:
            for index, frame in tasks:
                # A chunk sent again starts afresh: the claim of its last
                # attempt (kept until it expires) must neither block the new
                # one nor count as it.
                pipe.delete(self._keys.claim(self._job, index))
                pipe.publish(self._keys.tasks, frame)
            receivers = pipe.execute()[1::2]
        if not any(receivers):
            logger.debug("published %s descriptor(s) to no subscriber", len(tasks))

    def receive(self, client: Any) -> list[bytes]:
        frames = _read(self._pubsub, self._confirmations)
        if self._confirmations:
            self.resubscribed += len(self._confirmations)
            self._confirmations.clear()
            logger.warning(
                "the result subscription was lost and renewed (Redis restarted,"
                " or cut this slow subscriber off at its output buffer limit);"
                " results sent meanwhile are lost and their chunks go out again"
            )
        return frames

    def check(self, client: Any, in_flight: Sequence[int]) -> Check:
        if not in_flight:
            return Check()
        holders = client.mget([self._keys.claim(self._job, i) for i in in_flight])
        return Check(
            claims={
                index: holder.decode()
                for index, holder in zip(in_flight, holders, strict=True)
                if holder is not None
            }
        )

    def written(self, client: Any, indexes: Sequence[int]) -> None:
        """Workers delete their claims when they answer: nothing to do."""

    def close(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()


class PubSubWorker:
    """A worker's half: hear every descriptor, claim those it has room for."""

    reads_always = True

    def __init__(self, client: Any, keys: Keys, name: str) -> None:
        self._keys = keys
        self._name = name
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._pubsub = _subscribe(client, keys.tasks)
        self._confirmations: list[int] = []
        self.malformed = 0

    def take(self, client: Any, room: Callable[[], int]) -> list[Held]:
        tasks: list[Task] = []
        for frame in _read(self._pubsub, self._confirmations):
            try:
                tasks.append(decode_as(frame, Task))
            except ProtocolError as exc:
                self.malformed += 1
                logger.warning("dropped a malformed descriptor: %s", exc)
        free = room()
        if not tasks or free <= 0:
            return []
        # Claim as many as there is room for, in order; drop the rest:
        # another worker takes them, or the coordinator publishes them again.
        won = self._claim(
            keys=[self._keys.claim(t.job, t.chunk.index) for t in tasks],
            args=[self._name, CLAIM_TTL_MS, free],
        )
        return [Held(tasks[int(i) - 1], None) for i in won]

    def _claim_key(self, held: Held) -> str:
        return self._keys.claim(held.task.job, held.task.chunk.index)

    def answer(self, client: Any, held: Held, frame: bytes) -> None:
        # The claim is left to expire, not deleted: until then the
        # coordinator sees that a worker took the chunk, so a result lost on
        # the way counts as a failed attempt, not as a descriptor nobody got.
        client.publish(self._keys.results, frame)

    def renew(self, pipe: Any, held: Sequence[Held]) -> None:
        if held:
            self._renew(
                keys=[self._claim_key(h) for h in held],
                args=[self._name, CLAIM_TTL_MS],
                client=pipe,
            )

    def leave(self, client: Any, held: Sequence[Held]) -> None:
        with client.pipeline(transaction=False) as pipe:
            for h in held:
                self._release(keys=[self._claim_key(h)], args=[self._name], client=pipe)
            pipe.execute()

    def close(self) -> None:
        self._pubsub.close()
