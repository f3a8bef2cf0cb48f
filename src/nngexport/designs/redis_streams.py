"""The Redis Streams design: a task stream, a consumer group, a result stream.

- The coordinator XADDs descriptors to ``PREFIX:tasks``, whose consumer
  group ``workers`` it creates. Workers XREADGROUP: first their own pending
  entries (a worker restarted under the same ``--name``), then new ones.
- A worker answers in one MULTI/EXEC: XADD the result to ``PREFIX:results``
  and XACK the task. Either both happen or neither, so an acknowledged task
  always has its result stored, and a stored result's task is never handed
  out again by Redis.
- The heartbeat re-claims (XCLAIM ... JUSTID) the entries a worker holds,
  which resets their idle time without counting a delivery, so a long chunk
  is never taken from a live worker. A worker with a free slot runs
  XAUTOCLAIM every tick and takes over entries idle for :data:`MIN_IDLE_MS`:
  those of a dead or stalled worker.
- An entry delivered more than ``max_attempts`` times is moved to the
  dead-letter stream ``PREFIX:dead`` and acknowledged; the coordinator sees it
  there and fails the export naming the chunk.
- The coordinator reads results with XREAD and deletes what it read, and
  deletes a task entry once its chunk is in the file, so Redis holds about a
  window of entries at any time.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ProtocolError
from ..wire import Task, decode_as
from .redis_common import BLOCK_SECONDS, HEARTBEAT_INTERVAL, Keys, natural
from .transport import Check, GivenUp, Held

logger = logging.getLogger(__name__)

#: The consumer group every worker reads the task stream through.
GROUP = "workers"
#: Milliseconds an entry must sit unrenewed before another worker takes it.
MIN_IDLE_MS = 1000
#: Results read in one XREAD.
READ_COUNT = 64


def _is_nogroup(exc: Exception) -> bool:
    return "NOGROUP" in str(exc)


def _is_unblocked(exc: Exception) -> bool:
    # Redis 7 ends a blocked XREADGROUP this way when its stream is deleted.
    return str(exc).startswith("UNBLOCKED")


class StreamsCoordinator:
    """The coordinator's half: XADD tasks, XREAD results, watch the dead letters."""

    lease_time = float("inf")
    ack_timeout = float("inf")
    grows_window = True

    def __init__(self, client: Any, keys: Keys) -> None:
        self._keys = keys
        self._last = b"0-0"
        # Entry ids of each chunk's descriptors, to delete once it is written.
        self._entries: dict[int, list[bytes]] = {}
        # The first consumer seen holding each pending entry.
        self._consumer: dict[bytes, str] = {}
        # Chunk index of each task entry (send() adds, written() removes).
        self._index: dict[bytes, int] = {}
        # Chunks whose results came from a later delivery, with the consumer
        # that had them before; filled by receive() and emptied by check(),
        # which run in two threads: a deque is safe for that.
        self._reclaimed: deque[tuple[int, str | None]] = deque()

    def _create(self, client: Any, job: str, max_attempts: int) -> None:
        import redis

        with client.pipeline(transaction=False) as pipe:
            pipe.set(self._keys.epoch, job)
            pipe.hset(self._keys.limits, "max_deliveries", max_attempts)
            pipe.execute()
        try:
            # From id 0, so descriptors added before the group are not skipped.
            client.xgroup_create(self._keys.tasks, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def start(self, client: Any, job: str, *, max_attempts: int) -> None:
        client.delete(self._keys.tasks, self._keys.results, self._keys.dead)
        self._create(client, job, max_attempts)

    def restore(self, client: Any, job: str, *, max_attempts: int) -> None:
        self._entries.clear()
        self._index.clear()
        self._consumer.clear()
        self._create(client, job, max_attempts)

    def send(self, client: Any, tasks: Sequence[tuple[int, bytes]]) -> None:
        with client.pipeline(transaction=False) as pipe:
            for _, frame in tasks:
                pipe.xadd(self._keys.tasks, {b"t": frame})
            ids = pipe.execute()
        for (index, _), entry in zip(tasks, ids, strict=True):
            self._entries.setdefault(index, []).append(entry)
            self._index[entry] = index

    def receive(self, client: Any) -> list[bytes]:
        import redis

        reply = client.xread(
            {self._keys.results: self._last},
            count=READ_COUNT,
            block=round(BLOCK_SECONDS * 1000),
        )
        if not reply:
            return []
        [(_, entries)] = reply
        self._last = entries[-1][0]
        try:
            client.xdel(self._keys.results, *(entry for entry, _ in entries))
        except redis.RedisError as exc:
            # Housekeeping only: these results are read (the next read starts
            # after them), so they must be returned, not lost with the error.
            # Entries left behind go with the stream when the export ends.
            logger.debug("could not delete %s read result(s): %s", len(entries), exc)
        for _, fields in entries:
            # A result of a second or later delivery: some worker took the
            # entry over from another (XAUTOCLAIM). Reported by check().
            if (natural(fields.get(b"d"), 1) or 1) > 1:
                task = fields.get(b"t", b"")
                index = self._index.get(task)
                if index is not None:
                    self._reclaimed.append((index, self._consumer.get(task)))
        return [bytes(fields.get(b"r", b"")) for _, fields in entries]

    def check(self, client: Any, in_flight: Sequence[int]) -> Check:
        with client.pipeline(transaction=False) as pipe:
            pipe.xrange(self._keys.dead, count=16)
            pipe.xpending_range(self._keys.tasks, GROUP, "-", "+", 1000)
            dead, pending = pipe.execute(raise_on_error=False)
        check = Check()
        for reply in (dead, pending):
            if isinstance(reply, Exception):
                if not _is_nogroup(reply):
                    raise reply
                # Redis restarted empty; the coordinator sees the epoch gone
                # and calls restore().
                return check
        for _, fields in dead:
            try:
                task = decode_as(fields.get(b"t", b""), Task)
            except ProtocolError:
                continue
            deliveries = natural(fields.get(b"deliveries"), 0)
            check.given_up.append(
                GivenUp(
                    task.chunk.index,
                    f"Redis delivered it {deliveries} times and no worker answered;"
                    f" it is in the dead-letter stream {self._keys.dead!r}",
                )
            )
        for entry in pending:
            # The first consumer seen holding it: after a take-over, the one
            # that lost it.
            self._consumer.setdefault(entry["message_id"], entry["consumer"].decode())
        while self._reclaimed:
            check.taken_back.append(self._reclaimed.popleft())
        return check

    def written(self, client: Any, indexes: Sequence[int]) -> None:
        entries = [e for i in indexes for e in self._entries.pop(i, ())]
        for entry in entries:
            self._consumer.pop(entry, None)
            self._index.pop(entry, None)
        if entries:
            client.xdel(self._keys.tasks, *entries)

    def close(self) -> None:
        """Nothing of its own to close."""


class StreamsWorker:
    """A worker's half: XREADGROUP, XAUTOCLAIM, and an atomic XADD + XACK."""

    reads_always = False

    def __init__(self, client: Any, keys: Keys, name: str) -> None:
        self._keys = keys
        self._name = name
        self._own_read = False
        self._next_claim = 0.0
        self.malformed = 0

    def take(self, client: Any, room: Callable[[], int]) -> list[Held]:
        import redis

        free = max(room(), 1)
        try:
            if not self._own_read:
                # Our own pending entries first: a restart under the same name.
                held = self._held(client, self._read(client, "0", free, block=None))
                self._own_read = True
                if held:
                    return held
            if time.monotonic() >= self._next_claim:
                self._next_claim = time.monotonic() + HEARTBEAT_INTERVAL
                held = self._autoclaim(client, free)
                if held:
                    return held
            entries = self._read(client, ">", free, block=round(BLOCK_SECONDS * 1000))
            return self._held(client, entries)
        except redis.ResponseError as exc:
            if _is_unblocked(exc):
                # The stream was deleted while we waited on it: the export
                # ended (its coordinator removes its keys). Nothing to take.
                return []
            if not _is_nogroup(exc):
                raise
            # No group yet (or Redis restarted empty): the coordinator makes it.
            time.sleep(BLOCK_SECONDS)
            return []

    def _read(
        self, client: Any, start: str, room: int, *, block: int | None
    ) -> list[tuple[bytes, dict[bytes, bytes], int]]:
        reply = client.xreadgroup(
            GROUP, self._name, {self._keys.tasks: start}, count=room, block=block
        )
        if not reply:
            return []
        [(_, entries)] = reply
        # Entries deleted since they were delivered come back without fields.
        # A first read is a first delivery, but our own pending entries
        # (start "0") may not be: counting them as 1 only under-reports.
        return [(entry, fields, 1) for entry, fields in entries if fields]

    def _autoclaim(self, client: Any, room: int) -> list[Held]:
        _, claimed, *_ = client.xautoclaim(
            self._keys.tasks, GROUP, self._name, MIN_IDLE_MS, "0-0", count=room
        )
        claimed = [(entry, fields) for entry, fields in claimed if fields]
        if not claimed:
            return []
        with client.pipeline(transaction=False) as pipe:
            pipe.hget(self._keys.limits, "max_deliveries")
            for entry, _ in claimed:
                pipe.xpending_range(self._keys.tasks, GROUP, entry, entry, 1)
            limit, *pending = pipe.execute()
        limit = natural(limit, 0) or 0
        keep: list[tuple[bytes, dict[bytes, bytes], int]] = []
        for (entry, fields), info in zip(claimed, pending, strict=True):
            deliveries = int(info[0]["times_delivered"]) if info else 1
            if limit and deliveries > limit:
                logger.warning(
                    "entry %s was delivered %s times; moving it to %s",
                    entry,
                    deliveries,
                    self._keys.dead,
                )
                with client.pipeline(transaction=True) as pipe:
                    pipe.xadd(
                        self._keys.dead,
                        {b"t": fields.get(b"t", b""), b"deliveries": deliveries},
                    )
                    pipe.xack(self._keys.tasks, GROUP, entry)
                    pipe.execute()
            else:
                keep.append((entry, fields, deliveries))
        return self._held(client, keep)

    def _held(
        self, client: Any, entries: list[tuple[bytes, dict[bytes, bytes], int]]
    ) -> list[Held]:
        """Decoded descriptors; each token is (entry id, deliveries so far)."""
        held = []
        for entry, fields, deliveries in entries:
            try:
                task = decode_as(fields.get(b"t", b""), Task)
                held.append(Held(task, (entry, deliveries)))
            except ProtocolError as exc:
                self.malformed += 1
                logger.warning("dropped a malformed descriptor: %s", exc)
                client.xack(self._keys.tasks, GROUP, entry)
        return held

    def answer(self, client: Any, held: Held, frame: bytes) -> None:
        import redis

        entry, deliveries = held.token
        with client.pipeline(transaction=True) as pipe:
            pipe.xadd(self._keys.results, {b"r": frame, b"t": entry, b"d": deliveries})
            pipe.xack(self._keys.tasks, GROUP, entry)
            try:
                pipe.execute()
            except redis.ResponseError as exc:
                # The group is gone (Redis restarted empty): the result is
                # stored all the same, and there is nothing left to ack.
                if not _is_nogroup(exc):
                    raise

    def renew(self, pipe: Any, held: Sequence[Held]) -> None:
        if held:
            pipe.xclaim(
                self._keys.tasks,
                GROUP,
                self._name,
                0,
                [h.token[0] for h in held],
                justid=True,
            )

    def leave(self, client: Any, held: Sequence[Held]) -> None:
        """Unanswered entries stay pending; another worker claims them."""

    def close(self) -> None:
        """Nothing of its own to close."""
