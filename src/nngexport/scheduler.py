"""Which chunk goes out next, who holds it, and when to give up on them.

How it works. NNG's push0 hands a message to a worker and forgets it; if that
worker dies, the message is gone. So the scheduler keeps the guarantee
itself, as a plain state machine driven by the coordinator::

    pending --dispatch--> sent --taken--> leased --result--> done
       ^                   |                |
       +---- ack timeout --+                |
       +---- worker lost, lease expired, failure reported

- **Dispatch.** :meth:`Scheduler.next_chunk` hands out pending chunks lowest
  index first, but only while the index is less than ``written + window``,
  where ``written`` is how many chunks are already in the file. That one rule
  bounds what the coordinator holds (at most ``window`` chunks in flight or
  waiting to be written), and a re-issued chunk, always at or near the head,
  is never held back by it.
  A large window (small chunks) refills in bursts (:data:`BURST_WINDOW`).
- **Sent.** Once NNG has taken the message (:meth:`sent`), the chunk must be
  acknowledged within ``ack_timeout``: a worker says :meth:`taken` as soon as
  it receives a descriptor. A chunk that is never acknowledged was lost in
  transit or in a dead worker's socket, and goes back to pending.
- **Leased.** A taken chunk is leased to its worker until ``lease_time``
  from the last time the worker vouched for it: every survey answer lists the
  chunks the worker holds (:meth:`renew`). A live worker therefore keeps a
  long chunk as long as it needs; a stalled one stops answering and its
  leases run out. :meth:`lose_worker` takes a dead worker's chunks back at
  once, without waiting for the leases.
- **Attempts.** An attempt is a worker taking the chunk. A chunk that comes
  back (its worker lost, its lease expired, or a failure reported) after
  ``max_attempts`` attempts fails the export: :attr:`failure` says which
  chunk, on which workers, and the last error. A send that nobody
  acknowledged is not an attempt (no worker tried; a stalled worker's socket
  may have swallowed it), but :data:`MAX_UNACKNOWLEDGED` of those in a row
  also fail the export, since then workers cannot read what we send.
- **Exactly once.** The first result for a chunk wins; any later copy (a
  stalled worker waking up, a re-issued chunk finishing twice) is reported as
  a duplicate and must be dropped by the caller.

Time is never read here; the caller passes ``now`` (seconds, any clock).
"""

from __future__ import annotations

import enum
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from .defaults import MAX_ATTEMPTS

#: Chunks queued per worker slot beyond the one being rendered.
QUEUED_PER_SLOT = 1
#: The window never drops below this, so one worker still overlaps its chunks.
MIN_WINDOW = 2
#: Once result sizes are known, the window may grow until this many bytes of
#: results are in flight or buffered: small chunks then keep workers busy
#: (and batches full) instead of waiting a round trip each. It sets the
#: coordinator's peak memory too: at 16 MiB a 10 M-row export peaked 6 MiB
#: (12%) above a 1 M-row one, at 8 MiB 1.5 MiB (3%), for about 9% of the
#: 64 KiB transport's throughput (docs/benchmarks.md).
BYTES_IN_FLIGHT = 8 * 2**20
#: ... but never beyond this many chunks per slot.
MAX_PER_SLOT = 128
#: A window this large is refilled in bursts: fresh chunks go out only once a
#: quarter of it is free (or the rest of the plan fits), so that they leave,
#: and come back, in batches rather than one by one.
BURST_WINDOW = 64
#: Seconds a sent chunk may go without a worker saying it took it.
ACK_TIMEOUT = 0.5
#: Seconds a lease lasts unless the worker's survey answers renew it.
LEASE_TIME = 1.5
#: Seconds left to acknowledge a sent chunk once some worker is lost: a
#: chunk still unacknowledged then was likely on its way to the lost worker.
LOSS_ACK_GRACE = 0.25
#: Sends in a row that nobody acknowledged before the export fails.
MAX_UNACKNOWLEDGED = 10


def window_for(slots: int, *, result_bytes: float | None = None) -> int:
    """The dispatch window for workers with ``slots`` slots in total.

    ``result_bytes`` is the mean size of a result so far, if any came:
    smaller results allow more chunks out at once, within
    :data:`BYTES_IN_FLIGHT` and :data:`MAX_PER_SLOT`.
    """
    base = max(MIN_WINDOW, slots * (1 + QUEUED_PER_SLOT))
    if not result_bytes:
        return base
    fits = int(BYTES_IN_FLIGHT // max(result_bytes, 1.0))
    return max(base, min(fits, slots * MAX_PER_SLOT))


class State(enum.Enum):
    """Where a chunk is in its life."""

    PENDING = "pending"
    SENT = "sent"
    LEASED = "leased"
    DONE = "done"


class Outcome(enum.Enum):
    """What :meth:`Scheduler.complete` made of a result."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Reissue:
    """A chunk that went back to pending, and why.

    Attributes:
        index: The chunk.
        at: When (the caller's clock).
        cause: ``"worker lost"``, ``"lease expired"``, ``"not acknowledged"``
            or ``"failed"``.
        worker: The worker that held it, if one had said so.
    """

    index: int
    at: float
    cause: str
    worker: str | None


@dataclass(frozen=True, slots=True)
class ChunkFailure:
    """Why the export must fail: a chunk used up its attempts."""

    index: int
    attempts: int
    workers: tuple[str, ...]
    cause: str
    last_error: str | None

    def describe(self) -> str:
        """A one-line explanation for the user."""
        if self.cause == "not acknowledged":
            return (
                f"chunk {self.index} was sent {self.attempts} times and no worker"
                " acknowledged it; check that the workers run the same nngexport"
                " version as the coordinator"
            )
        workers = ", ".join(self.workers) or "none that acknowledged it"
        text = (
            f"chunk {self.index} was given up after {self.attempts} attempts"
            f" (last: {self.cause}; workers: {workers})"
        )
        if self.last_error is not None:
            text += f"; last error: {self.last_error}"
        return text


@dataclass(frozen=True, slots=True)
class SchedulerStatistics:
    """A snapshot of the scheduler's counters."""

    total: int
    pending: int
    sent: int
    leased: int
    done: int
    window: int
    reissued: int
    duplicates: int
    workers_lost: int


@dataclass(slots=True)
class _Chunk:
    state: State = State.PENDING
    attempts: int = 0
    unacknowledged: int = 0
    worker: str | None = None
    deadline: float = math.inf
    holders: list[str] = field(default_factory=list)
    last_error: str | None = None


class Scheduler:
    """Hands out chunks ``0 .. total - 1`` and tracks them until each is done."""

    def __init__(
        self,
        total: int,
        *,
        window: int,
        ack_timeout: float = ACK_TIMEOUT,
        lease_time: float = LEASE_TIME,
        loss_ack_grace: float = LOSS_ACK_GRACE,
        max_attempts: int = MAX_ATTEMPTS,
        start: int = 0,
        grow_window: bool = False,
    ) -> None:
        if total < 0:
            raise ValueError(f"total must not be negative, got {total!r}")
        if not 0 <= start <= total:
            raise ValueError(f"start must be in 0 .. {total}, got {start!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts!r}")
        self._total = total
        self._window = _check_window(window)
        self._ack_timeout = ack_timeout
        self._lease_time = lease_time
        self._loss_ack_grace = loss_ack_grace
        self._max_attempts = max_attempts
        self._chunks: dict[int, _Chunk] = {}
        # Chunks before ``start`` are in the file already (a resumed export).
        self._next_fresh = start
        self._requeued: list[int] = []
        self._done = start
        self._duplicates = 0
        self._workers_lost = 0
        self.reissues: list[Reissue] = []
        self.failure: ChunkFailure | None = None
        self._no_capacity_since: float | None = None
        self._grow_window = grow_window
        self._result_bytes = 0
        self._results = 0
        self._refilling = True

    @property
    def window(self) -> int:
        """The number of chunks that may be in flight or buffered at once."""
        return self._window

    @window.setter
    def window(self, window: int) -> None:
        self._window = _check_window(window)

    def follow_capacity(self, slots: int, *, now: float) -> float:
        """Workers have ``slots`` slots now: size the window for them.

        With ``grow_window``, the window also follows the mean size of the
        results accepted so far (:func:`window_for`).

        Returns for how long there has been no capacity at all (0.0 while
        there is some), so the caller can give up after its worker timeout.
        With none, the window stays as it was.
        """
        if slots:
            self._no_capacity_since = None
            mean = None
            if self._grow_window and self._results:
                mean = self._result_bytes / self._results
            self.window = window_for(slots, result_bytes=mean)
            return 0.0
        if self._no_capacity_since is None:
            self._no_capacity_since = now
        return now - self._no_capacity_since

    @property
    def finished(self) -> bool:
        """Whether every chunk is done."""
        return self._done == self._total

    def state(self, index: int) -> State:
        """The state of chunk ``index``."""
        if index >= self._next_fresh:
            return State.PENDING
        chunk = self._chunks.get(index)
        return State.DONE if chunk is None else chunk.state

    def next_chunk(self, *, written: int) -> int | None:
        """Take the next chunk to send, or ``None`` if there is none for now.

        ``written`` is how many chunks (a prefix) are already in the output.
        The chunk counts as sent, with no deadline, until :meth:`sent`.
        """
        if self.failure is not None:
            return None
        limit = min(self._total, written + self._window)
        if self._requeued and self._requeued[0] < written + self._window:
            index = heapq.heappop(self._requeued)
        elif self._next_fresh < limit and self._may_refill(limit):
            index = self._next_fresh
            self._next_fresh += 1
            self._chunks[index] = _Chunk()
        else:
            return None
        chunk = self._chunks[index]
        chunk.state = State.SENT
        chunk.worker = None
        chunk.deadline = math.inf
        return index

    def _may_refill(self, limit: int) -> bool:
        """Whether fresh chunks may go out now, up to ``limit``."""
        room = limit - self._next_fresh
        if not self._refilling:
            self._refilling = self._burst_due(room, limit)
        if not self._refilling:
            return False
        # The burst ends with the chunk that fills the window; the next
        # starts when there is room for a quarter window again.
        self._refilling = room > 1
        return True

    def _burst_due(self, room: int, limit: int) -> bool:
        return (
            self._window < BURST_WINDOW
            or room >= self._window // 4
            or limit == self._total
        )

    def sent(self, index: int, *, now: float) -> None:
        """NNG took chunk ``index``'s descriptor: start the acknowledgement clock."""
        chunk = self._chunks.get(index)
        if chunk is not None and chunk.state is State.SENT:
            chunk.deadline = now + self._ack_timeout

    def taken(self, index: int, worker: str, *, now: float) -> None:
        """``worker`` says it received chunk ``index``: lease the chunk to it."""
        chunk = self._chunks.get(index)
        if chunk is None or chunk.state not in (State.SENT, State.LEASED):
            return
        if chunk.state is State.SENT:
            chunk.attempts += 1
            chunk.unacknowledged = 0
        chunk.state = State.LEASED
        chunk.worker = worker
        chunk.deadline = now + self._lease_time
        if worker not in chunk.holders:
            chunk.holders.append(worker)

    def renew(self, worker: str, held: Iterable[int], *, now: float) -> None:
        """``worker`` answered a survey holding ``held``: extend those leases."""
        for index in held:
            chunk = self._chunks.get(index)
            if chunk is None:
                continue
            if chunk.state is State.LEASED and chunk.worker == worker:
                chunk.deadline = now + self._lease_time
            elif chunk.state is State.SENT:
                # Its acknowledgement is late or was lost; the survey says who.
                self.taken(index, worker, now=now)

    def lose_worker(self, worker: str, *, now: float) -> list[int]:
        """``worker`` is gone: put every chunk it held back in the queue.

        Chunks sent but not yet acknowledged by anyone may have been on their
        way to it: they get :data:`LOSS_ACK_GRACE` seconds to be acknowledged.
        """
        self._workers_lost += 1
        for chunk in self._chunks.values():
            if chunk.state is State.SENT:
                chunk.deadline = min(chunk.deadline, now + self._loss_ack_grace)
        lost = [
            index
            for index, chunk in self._chunks.items()
            if chunk.state is State.LEASED and chunk.worker == worker
        ]
        for index in lost:
            self._requeue(index, now=now, cause="worker lost")
        return lost

    def expire(self, *, now: float) -> list[int]:
        """Put back every chunk whose acknowledgement or lease is overdue."""
        overdue = [
            index
            for index, chunk in self._chunks.items()
            if chunk.state in (State.SENT, State.LEASED) and chunk.deadline <= now
        ]
        for index in overdue:
            chunk = self._chunks[index]
            leased = chunk.state is State.LEASED
            cause = "lease expired" if leased else "not acknowledged"
            self._requeue(index, now=now, cause=cause)
        return overdue

    def defer_deadlines(self, *, now: float) -> None:
        """Give every sent or leased chunk its full timeout again from ``now``.

        For when the caller could not read for a while (its receiving loop
        waited for a slow writer): the acknowledgements and results it did
        not see may be waiting in its own buffers, so their absence says
        nothing. Lost workers are still lost at once (:meth:`lose_worker`).
        """
        for chunk in self._chunks.values():
            if chunk.state is State.SENT and chunk.deadline != math.inf:
                chunk.deadline = max(chunk.deadline, now + self._ack_timeout)
            elif chunk.state is State.LEASED:
                chunk.deadline = max(chunk.deadline, now + self._lease_time)

    def in_flight(self) -> list[int]:
        """The chunks sent or leased, lowest first."""
        return sorted(
            index
            for index, chunk in self._chunks.items()
            if chunk.state in (State.SENT, State.LEASED)
        )

    def requeue_in_flight(
        self, *, now: float, cause: str, indexes: Iterable[int] | None = None
    ) -> list[int]:
        """Put back every chunk sent or leased (or those of ``indexes``).

        For a transport that lost them: a broker that came back empty (a
        Redis restart with no persistence), or a result the broker handed
        out whose reply never came. Nobody tried and failed these chunks, so
        this costs them no attempt. Results still on their way are
        duplicates later. Returns the chunks put back.
        """
        lost = self.in_flight()
        if indexes is not None:
            wanted = set(indexes)
            lost = [index for index in lost if index in wanted]
        for index in lost:
            chunk = self._chunks[index]
            self.reissues.append(Reissue(index, now, cause, chunk.worker))
            chunk.state = State.PENDING
            chunk.worker = None
            chunk.deadline = math.inf
            heapq.heappush(self._requeued, index)
        return lost

    def next_deadline(self) -> float:
        """The earliest acknowledgement or lease deadline (``inf`` if none)."""
        return min(
            (
                chunk.deadline
                for chunk in self._chunks.values()
                if chunk.state in (State.SENT, State.LEASED)
            ),
            default=math.inf,
        )

    def complete(
        self, index: int, worker: str, *, now: float, size: int = 0
    ) -> Outcome:
        """A result for chunk ``index`` (``size`` bytes) arrived from ``worker``.

        The sizes of accepted results size the window (:meth:`follow_capacity`).
        """
        if not 0 <= index < self._next_fresh:
            return Outcome.UNKNOWN
        chunk = self._chunks.get(index)
        if chunk is None or chunk.state is State.DONE:
            self._duplicates += 1
            return Outcome.DUPLICATE
        if chunk.state is State.PENDING:
            # Re-queued, but the old holder finished after all: take it.
            self._requeued.remove(index)
            heapq.heapify(self._requeued)
        chunk.state = State.DONE
        chunk.worker = worker
        chunk.deadline = math.inf
        self._done += 1
        self._result_bytes += size
        self._results += 1
        # Forget done chunks: memory stays bounded by the window.
        del self._chunks[index]
        return Outcome.ACCEPTED

    def fail(self, index: int, worker: str, error: str, *, now: float) -> None:
        """``worker`` could not render chunk ``index``: retry it, or give up."""
        chunk = self._chunks.get(index)
        if chunk is None or chunk.state is State.DONE or chunk.state is State.PENDING:
            return
        if chunk.state is State.SENT:
            # The failure overtook the acknowledgement; the worker did try.
            chunk.attempts += 1
        chunk.last_error = error
        if worker not in chunk.holders:
            chunk.holders.append(worker)
        self._requeue(index, now=now, cause="failed")

    def statistics(self) -> SchedulerStatistics:
        """Counts of chunks in each state, and of what went wrong."""
        states = [chunk.state for chunk in self._chunks.values()]
        return SchedulerStatistics(
            total=self._total,
            pending=self._total - self._next_fresh + states.count(State.PENDING),
            sent=states.count(State.SENT),
            leased=states.count(State.LEASED),
            done=self._done,
            window=self._window,
            reissued=len(self.reissues),
            duplicates=self._duplicates,
            workers_lost=self._workers_lost,
        )

    def _requeue(self, index: int, *, now: float, cause: str) -> None:
        chunk = self._chunks[index]
        if chunk.state is State.SENT and cause == "not acknowledged":
            chunk.unacknowledged += 1
            used_up = chunk.unacknowledged >= MAX_UNACKNOWLEDGED
        else:
            used_up = chunk.attempts >= self._max_attempts
        if used_up:
            if self.failure is None:
                self.failure = ChunkFailure(
                    index,
                    chunk.attempts or chunk.unacknowledged,
                    tuple(chunk.holders),
                    cause,
                    chunk.last_error,
                )
            return
        self.reissues.append(Reissue(index, now, cause, chunk.worker))
        chunk.state = State.PENDING
        chunk.worker = None
        chunk.deadline = math.inf
        heapq.heappush(self._requeued, index)


def _check_window(window: int) -> int:
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window!r}")
    return window
