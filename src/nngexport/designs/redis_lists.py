"""The Redis Lists design: the reliable queue, with a sorted set for results.

- The coordinator LPUSHes descriptors onto ``PREFIX:tasks``. A worker takes
  one with ``BLMOVE tasks processing:NAME RIGHT LEFT``: atomically, so a
  descriptor is always in exactly one list, whatever dies when.
- A worker answers in one MULTI/EXEC: ZADD the result to ``PREFIX:results``
  scored by chunk index, and LREM the descriptor from its processing list.
- A move can happen in Redis and its reply never reach the worker (Redis
  killed after it wrote the move to its append-only file, before it
  answered): the descriptor then sits in a live worker's processing list,
  where no reaper looks. So before each take a worker reads its own list
  and adopts whatever is there that it does not know it holds.
- Workers refresh a liveness key with a TTL (shared with every design). The
  coordinator's reaper runs every tick: a worker whose key expired has its
  processing list moved back onto the task list, each item in a MULTI of
  LREM + RPUSH (at the right end, so it goes out next). A chunk taken back
  ``max_attempts`` times is given up and fails the export.
- The coordinator pops results lowest score first (BZPOPMIN, then ZPOPMIN
  for the rest), so they come out in chunk order as far as they are there.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ProtocolError
from ..wire import Task, decode_as
from .redis_common import BLOCK_SECONDS, Keys
from .transport import Check, GivenUp, Held

logger = logging.getLogger(__name__)

#: Results popped in one go after the first.
POP_COUNT = 64


def _index_of(item: bytes) -> int | None:
    try:
        return decode_as(item, Task).chunk.index
    except ProtocolError:
        return None


class ListsCoordinator:
    """The coordinator's half: LPUSH tasks, pop results, reap dead workers."""

    lease_time = float("inf")
    ack_timeout = float("inf")
    grows_window = True

    def __init__(self, client: Any, keys: Keys) -> None:
        self._keys = keys
        self._max_attempts = 1
        self._taken_back: dict[int, int] = {}

    def start(self, client: Any, job: str, *, max_attempts: int) -> None:
        self._max_attempts = max_attempts
        # Processing lists of workers that are gone belong to old exports.
        names = [n.decode() for n in client.smembers(self._keys.processors)]
        alive = client.mget([self._keys.alive(n) for n in names]) if names else []
        with client.pipeline(transaction=False) as pipe:
            pipe.delete(self._keys.tasks, self._keys.results)
            for name, beat in zip(names, alive, strict=True):
                if beat is None:
                    pipe.delete(self._keys.processing(name))
                    pipe.srem(self._keys.processors, name)
            pipe.set(self._keys.epoch, job)
            pipe.execute()

    def restore(self, client: Any, job: str, *, max_attempts: int) -> None:
        client.set(self._keys.epoch, job)

    def send(self, client: Any, tasks: Sequence[tuple[int, bytes]]) -> None:
        # LPUSH a b c leaves c at the head; BLMOVE ... RIGHT takes a first.
        client.lpush(self._keys.tasks, *(frame for _, frame in tasks))

    def receive(self, client: Any) -> list[bytes]:
        first = client.bzpopmin(self._keys.results, timeout=BLOCK_SECONDS)
        if first is None:
            return []
        rest = client.zpopmin(self._keys.results, POP_COUNT)
        return [bytes(first[1]), *(bytes(member) for member, _ in rest)]

    def check(self, client: Any, in_flight: Sequence[int]) -> Check:
        names = [n.decode() for n in client.smembers(self._keys.processors)]
        check = Check()
        if names:
            alive = client.mget([self._keys.alive(n) for n in names])
            for name, beat in zip(names, alive, strict=True):
                if beat is None:
                    self._reap(client, name, check)
        if in_flight:
            check.missing = self._missing(client, names, in_flight)
        return check

    def _missing(
        self, client: Any, names: Sequence[str], in_flight: Sequence[int]
    ) -> list[int]:
        """In-flight chunks in no list and not among the results, all at once.

        A descriptor is always in exactly one list (moves and answers are
        atomic), so outside a pop by this coordinator a chunk in none of
        them and without a result was popped, and its reply never came.
        """
        with client.pipeline(transaction=True) as pipe:
            pipe.lrange(self._keys.tasks, 0, -1)
            for name in names:
                pipe.lrange(self._keys.processing(name), 0, -1)
            for index in in_flight:
                pipe.zcount(self._keys.results, index, index)
            replies = pipe.execute()
        lists, counts = replies[: len(names) + 1], replies[len(names) + 1 :]
        placed = {_index_of(item) for items in lists for item in items}
        return [
            index
            for index, count in zip(in_flight, counts, strict=True)
            if not count and index not in placed
        ]

    def _reap(self, client: Any, name: str, check: Check) -> None:
        processing = self._keys.processing(name)
        items = client.lrange(processing, 0, -1)
        if not items:
            client.srem(self._keys.processors, name)
            return
        with client.pipeline(transaction=True) as pipe:
            for item in items:
                index = _index_of(item)
                pipe.lrem(processing, 1, item)
                if index is None:
                    continue
                losses = self._taken_back.get(index, 0) + 1
                self._taken_back[index] = losses
                if losses >= self._max_attempts:
                    check.given_up.append(
                        GivenUp(
                            index,
                            f"taken back from {losses} dead worker(s), last {name}",
                        )
                    )
                else:
                    pipe.rpush(self._keys.tasks, item)
                    check.taken_back.append((index, name))
            pipe.execute()
        logger.warning(
            "worker %s is gone; moved %s descriptor(s) back to the queue",
            name,
            len(items),
        )

    def written(self, client: Any, indexes: Sequence[int]) -> None:
        for index in indexes:
            self._taken_back.pop(index, None)

    def close(self) -> None:
        """Nothing of its own to close."""


class ListsWorker:
    """A worker's half: BLMOVE into its processing list, answer with ZADD + LREM."""

    reads_always = False

    def __init__(self, client: Any, keys: Keys, name: str) -> None:
        self._keys = keys
        self._processing = keys.processing(name)
        self._name = name
        client.sadd(keys.processors, name)
        self.malformed = 0
        # Items of our processing list we know we hold, not yet answered or
        # left. Answers run in other threads than takes.
        self._mine: Counter[bytes] = Counter()
        self._lock = threading.Lock()

    def take(self, client: Any, room: Callable[[], int]) -> list[Held]:
        orphans = self._orphans(client)
        if orphans:
            logger.warning(
                "adopting %d descriptor(s) moved to our processing list whose"
                " move we never heard back about",
                len(orphans),
            )
            return self._hold(client, orphans[: max(room(), 1)])
        first = client.blmove(
            self._keys.tasks, self._processing, BLOCK_SECONDS, "RIGHT", "LEFT"
        )
        if first is None:
            return []
        items = [first]
        more = room() - 1
        if more > 0:
            with client.pipeline(transaction=False) as pipe:
                for _ in range(more):
                    pipe.lmove(self._keys.tasks, self._processing, "RIGHT", "LEFT")
                items += [item for item in pipe.execute() if item is not None]
        return self._hold(client, items)

    def _orphans(self, client: Any) -> list[bytes]:
        """Items of our processing list beyond those we know we hold."""
        listed = client.lrange(self._processing, 0, -1)
        with self._lock:
            known = Counter(self._mine)
        orphans = []
        for item in listed:
            if known[item] > 0:
                known[item] -= 1
            else:
                orphans.append(bytes(item))
        return orphans

    def _hold(self, client: Any, items: list[bytes]) -> list[Held]:
        held = []
        for item in items:
            try:
                task = decode_as(item, Task)
            except ProtocolError as exc:
                self.malformed += 1
                logger.warning("dropped a malformed descriptor: %s", exc)
                client.lrem(self._processing, 1, item)
                continue
            with self._lock:
                self._mine[item] += 1
            held.append(Held(task, item))
        return held

    def _forget(self, token: bytes) -> None:
        with self._lock:
            if self._mine[token] > 1:
                self._mine[token] -= 1
            else:
                self._mine.pop(token, None)

    def answer(self, client: Any, held: Held, frame: bytes) -> None:
        # Forgotten even when the call fails: if the answer never lands, the
        # next take adopts the descriptor again (at worst a chunk is rendered
        # twice, and the coordinator keeps the first result).
        try:
            with client.pipeline(transaction=True) as pipe:
                pipe.zadd(self._keys.results, {frame: held.task.chunk.index})
                pipe.lrem(self._processing, 1, held.token)
                pipe.execute()
        finally:
            self._forget(held.token)

    def renew(self, pipe: Any, held: Sequence[Held]) -> None:
        # The liveness key is the lease; say again that our list exists, in
        # case the reaper forgot us while we were stalled.
        pipe.sadd(self._keys.processors, self._name)

    def leave(self, client: Any, held: Sequence[Held]) -> None:
        with client.pipeline(transaction=True) as pipe:
            for h in held:
                pipe.lrem(self._processing, 1, h.token)
                pipe.rpush(self._keys.tasks, h.token)
            pipe.execute()
        for h in held:
            self._forget(h.token)

    def close(self) -> None:
        """Nothing of its own to close."""
