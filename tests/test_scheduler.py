from __future__ import annotations

import math

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from nngexport.scheduler import (
    ACK_TIMEOUT,
    LEASE_TIME,
    MIN_WINDOW,
    Outcome,
    Scheduler,
    State,
    window_for,
)

WORKERS = ("w1", "w2", "w3")


class Export(RuleBasedStateMachine):
    """Dispatch, deliveries, deaths, duplicates and timeouts in any order.

    The network and the workers are modelled as lists of chunk indexes that
    the rules move around, drop, replay and fail. Whatever happens, no chunk
    may be accepted twice, and when the faults stop, a healthy worker must be
    able to finish the export, or the scheduler must have declared a failure.
    """

    @initialize(
        total=st.integers(0, 12), window=st.integers(1, 5), attempts=st.integers(1, 4)
    )
    def start(self, total: int, window: int, attempts: int) -> None:
        self.total = total
        self.scheduler = Scheduler(total, window=window, max_attempts=attempts)
        self.now = 0.0
        self.in_transit: list[int] = []
        self.held: dict[str, list[int]] = {w: [] for w in WORKERS}
        self.accepted: list[int] = []

    def _written(self) -> int:
        done = set(self.accepted)
        written = 0
        while written in done:
            written += 1
        return written

    def started(self) -> bool:
        return hasattr(self, "scheduler")

    @precondition(started)
    @rule()
    def dispatch(self) -> None:
        index = self.scheduler.next_chunk(written=self._written())
        if index is not None:
            assert index < self._written() + self.scheduler.window
            self.scheduler.sent(index, now=self.now)
            self.in_transit.append(index)

    @precondition(lambda self: self.started() and self.in_transit)
    @rule(worker=st.sampled_from(WORKERS), data=st.data())
    def worker_takes(self, worker: str, data: st.DataObject) -> None:
        index = self.in_transit.pop(data.draw(st.integers(0, len(self.in_transit) - 1)))
        self.held[worker].append(index)
        self.scheduler.taken(index, worker, now=self.now)

    @precondition(lambda self: self.started() and self.in_transit)
    @rule(data=st.data())
    def message_lost(self, data: st.DataObject) -> None:
        self.in_transit.pop(data.draw(st.integers(0, len(self.in_transit) - 1)))

    @precondition(lambda self: self.started() and any(self.held.values()))
    @rule(data=st.data())
    def worker_finishes(self, data: st.DataObject) -> None:
        worker = data.draw(st.sampled_from([w for w in WORKERS if self.held[w]]))
        index = self.held[worker].pop(0)
        self._complete(index, worker)

    def _complete(self, index: int, worker: str) -> None:
        outcome = self.scheduler.complete(index, worker, now=self.now)
        if outcome is Outcome.ACCEPTED:
            assert index not in self.accepted, f"chunk {index} accepted twice"
            self.accepted.append(index)
        else:
            assert outcome is Outcome.DUPLICATE
            assert index in self.accepted

    @precondition(lambda self: self.started() and self.accepted)
    @rule(data=st.data())
    def duplicate_arrives(self, data: st.DataObject) -> None:
        self._complete(data.draw(st.sampled_from(self.accepted)), "w1")

    @precondition(lambda self: self.started() and any(self.held.values()))
    @rule(data=st.data())
    def worker_fails_a_chunk(self, data: st.DataObject) -> None:
        worker = data.draw(st.sampled_from([w for w in WORKERS if self.held[w]]))
        index = self.held[worker].pop(0)
        self.scheduler.fail(index, worker, "boom", now=self.now)

    @precondition(started)
    @rule(worker=st.sampled_from(WORKERS))
    def worker_dies(self, worker: str) -> None:
        self.held[worker].clear()
        self.scheduler.lose_worker(worker, now=self.now)

    @precondition(started)
    @rule()
    def broker_comes_back_empty(self) -> None:
        # Every message in the broker is gone; workers mid-render go on.
        self.in_transit.clear()
        self.scheduler.requeue_in_flight(now=self.now, cause="broker restarted")

    @precondition(started)
    @rule(worker=st.sampled_from(WORKERS))
    def worker_answers_survey(self, worker: str) -> None:
        self.scheduler.renew(worker, self.held[worker], now=self.now)

    @precondition(started)
    @rule(seconds=st.sampled_from([0.1, 0.5, ACK_TIMEOUT, LEASE_TIME + 0.1]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self.scheduler.expire(now=self.now)

    @invariant()
    def counts_add_up(self) -> None:
        if not self.started():
            return
        stats = self.scheduler.statistics()
        assert stats.done == len(self.accepted) == len(set(self.accepted))
        assert stats.pending + stats.sent + stats.leased + stats.done == self.total

    def teardown(self) -> None:
        if not self.started():
            return
        # The faults stop; one healthy worker drains the export.
        for _ in range(20 * (self.total + 1)):
            if self.scheduler.finished or self.scheduler.failure:
                break
            self.now += 0.01
            index = self.scheduler.next_chunk(written=self._written())
            if index is not None:
                self.scheduler.sent(index, now=self.now)
                self.scheduler.taken(index, "healer", now=self.now)
                self._complete(index, "healer")
                continue
            # Whatever is still out is held by workers that went quiet.
            for worker in WORKERS:
                for index in self.held[worker]:
                    self._complete(index, worker)
                self.held[worker].clear()
            self.now += LEASE_TIME + ACK_TIMEOUT
            self.scheduler.expire(now=self.now)
        assert self.scheduler.finished or self.scheduler.failure is not None
        if self.scheduler.finished:
            assert sorted(self.accepted) == list(range(self.total))


TestExport = Export.TestCase
TestExport.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)


def test_a_long_chunk_is_kept_while_its_worker_renews_it() -> None:
    scheduler = Scheduler(1, window=1)
    assert scheduler.next_chunk(written=0) == 0
    scheduler.sent(0, now=0.0)
    scheduler.taken(0, "w", now=0.1)
    for step in range(1, 100):
        now = step * 0.25
        scheduler.renew("w", [0], now=now)
        assert scheduler.expire(now=now) == []
    assert scheduler.state(0) is State.LEASED
    assert scheduler.complete(0, "w", now=30.0) is Outcome.ACCEPTED


def test_a_dead_workers_chunks_go_back_at_once() -> None:
    scheduler = Scheduler(3, window=3)
    for index in range(3):
        assert scheduler.next_chunk(written=0) == index
        scheduler.sent(index, now=0.0)
    scheduler.taken(0, "a", now=0.0)
    scheduler.taken(1, "b", now=0.0)
    scheduler.taken(2, "a", now=0.0)
    assert scheduler.lose_worker("a", now=0.5) == [0, 2]
    assert [r.cause for r in scheduler.reissues] == ["worker lost"] * 2
    assert scheduler.next_chunk(written=0) == 0
    assert scheduler.next_chunk(written=0) == 2
    assert scheduler.statistics().workers_lost == 1


def test_an_unacknowledged_chunk_comes_back_after_the_ack_timeout() -> None:
    scheduler = Scheduler(1, window=1)
    scheduler.next_chunk(written=0)
    assert scheduler.next_deadline() == math.inf  # not on the wire yet
    scheduler.sent(0, now=1.0)
    assert scheduler.next_deadline() == 1.0 + ACK_TIMEOUT
    assert scheduler.expire(now=1.0 + ACK_TIMEOUT / 2) == []
    assert scheduler.expire(now=1.0 + ACK_TIMEOUT) == [0]
    assert scheduler.reissues[0].cause == "not acknowledged"


def test_a_chunk_that_always_fails_fails_the_export_naming_it() -> None:
    scheduler = Scheduler(2, window=2, max_attempts=3)
    for attempt, worker in enumerate(["a", "b", "a"]):
        index = scheduler.next_chunk(written=0)
        if attempt == 0:
            assert index == 0
            index = scheduler.next_chunk(written=0)
        assert index == 1
        scheduler.sent(1, now=0.0)
        scheduler.taken(1, worker, now=0.0)
        scheduler.fail(1, worker, f"bad row {attempt}", now=0.0)
    failure = scheduler.failure
    assert failure is not None
    assert failure.describe() == (
        "chunk 1 was given up after 3 attempts (last: failed; workers: a, b);"
        " last error: bad row 2"
    )
    assert scheduler.next_chunk(written=0) is None


def test_a_late_result_from_the_first_holder_still_counts_once() -> None:
    scheduler = Scheduler(1, window=1)
    scheduler.next_chunk(written=0)
    scheduler.sent(0, now=0.0)
    scheduler.taken(0, "slow", now=0.0)
    scheduler.expire(now=10.0)
    assert scheduler.state(0) is State.PENDING
    assert scheduler.complete(0, "slow", now=10.5) is Outcome.ACCEPTED
    assert scheduler.next_chunk(written=1) is None
    assert scheduler.complete(0, "other", now=11.0) is Outcome.DUPLICATE
    assert scheduler.statistics().duplicates == 1


def test_the_window_follows_capacity() -> None:
    assert window_for(0) == MIN_WINDOW
    assert window_for(4) == 8
    with pytest.raises(ValueError, match="window must be at least 1"):
        Scheduler(3, window=0)


def test_sends_nobody_acknowledged_are_not_attempts_but_are_bounded() -> None:
    from nngexport.scheduler import MAX_UNACKNOWLEDGED

    scheduler = Scheduler(1, window=1, max_attempts=1)
    now = 0.0
    for _ in range(MAX_UNACKNOWLEDGED - 1):
        assert scheduler.next_chunk(written=0) == 0
        scheduler.sent(0, now=now)
        now += ACK_TIMEOUT
        assert scheduler.expire(now=now) == [0]
    assert scheduler.failure is None
    assert scheduler.next_chunk(written=0) == 0
    scheduler.sent(0, now=now)
    assert scheduler.expire(now=now + ACK_TIMEOUT) == [0]
    assert scheduler.failure is not None
    assert "no worker acknowledged it" in scheduler.failure.describe()


def test_chunks_unacknowledged_when_a_worker_is_lost_come_back_soon() -> None:
    from nngexport.scheduler import LOSS_ACK_GRACE

    scheduler = Scheduler(2, window=2)
    for index in range(2):
        scheduler.next_chunk(written=0)
        scheduler.sent(index, now=0.0)
    scheduler.taken(1, "alive", now=0.0)
    scheduler.lose_worker("dead", now=0.1)
    assert scheduler.expire(now=0.1 + LOSS_ACK_GRACE) == [0]
    assert scheduler.state(1) is State.LEASED


def test_a_broker_restart_requeues_everything_in_flight_at_no_attempt() -> None:
    scheduler = Scheduler(4, window=4, max_attempts=1)
    for now in range(3):
        index = scheduler.next_chunk(written=0)
        assert index is not None
        scheduler.sent(index, now=now)
    scheduler.taken(0, "w1", now=3)
    assert scheduler.requeue_in_flight(now=4, cause="redis restarted") == [0, 1, 2]
    assert [scheduler.state(i) for i in range(3)] == [State.PENDING] * 3
    assert [r.cause for r in scheduler.reissues] == ["redis restarted"] * 3
    # Chunk 0 had its one attempt, but the restart was nobody's failure.
    assert scheduler.next_chunk(written=0) == 0
    scheduler.sent(0, now=5)
    scheduler.taken(0, "w2", now=5)
    assert scheduler.complete(0, "w2", now=6) is Outcome.ACCEPTED
    assert scheduler.failure is None


def test_chunks_the_broker_lost_one_by_one_are_requeued_alone() -> None:
    scheduler = Scheduler(4, window=4, max_attempts=1)
    for now in range(3):
        index = scheduler.next_chunk(written=0)
        assert index is not None
        scheduler.sent(index, now=now)
    assert scheduler.complete(2, "w1", now=3) is Outcome.ACCEPTED
    # Chunk 2 is done and chunk 3 was never sent: only 1 goes back.
    lost = scheduler.requeue_in_flight(now=4, cause="result lost", indexes=[1, 2, 3])
    assert lost == [1]
    assert [scheduler.state(i) for i in range(3)] == [
        State.SENT,
        State.PENDING,
        State.DONE,
    ]
    assert [(r.index, r.cause) for r in scheduler.reissues] == [(1, "result lost")]
    assert scheduler.next_chunk(written=0) == 1


def test_deferred_deadlines_get_a_full_timeout_again() -> None:
    scheduler = Scheduler(2, window=2)
    for index in (0, 1):
        assert scheduler.next_chunk(written=0) == index
        scheduler.sent(index, now=0)
    scheduler.taken(1, "w1", now=0.1)
    scheduler.defer_deadlines(now=1.0)
    assert scheduler.expire(now=1.0 + ACK_TIMEOUT - 0.01) == []
    assert scheduler.expire(now=1.0 + ACK_TIMEOUT) == [0]
    assert scheduler.expire(now=1.0 + LEASE_TIME - 0.01) == []
    assert scheduler.expire(now=1.0 + LEASE_TIME) == [1]
    # A lost worker is lost at once all the same.
    assert scheduler.lose_worker("w1", now=3) == []


def test_capacity_sizes_the_window_and_times_its_absence() -> None:
    scheduler = Scheduler(10, window=2)
    assert scheduler.follow_capacity(3, now=0) == 0.0
    assert scheduler.window == window_for(3)
    assert scheduler.follow_capacity(0, now=1) == 0.0
    assert scheduler.follow_capacity(0, now=4) == 3.0
    # The window is kept while nobody is there, and the clock resets.
    assert scheduler.window == window_for(3)
    assert scheduler.follow_capacity(1, now=5) == 0.0
    assert scheduler.follow_capacity(0, now=6) == 0.0


def test_result_sizes_widen_the_window_within_a_byte_budget() -> None:
    from nngexport.scheduler import BYTES_IN_FLIGHT, MAX_PER_SLOT

    assert window_for(2) == window_for(2, result_bytes=None) == 4
    assert window_for(2, result_bytes=100) == 2 * MAX_PER_SLOT
    assert window_for(2, result_bytes=2**20) == BYTES_IN_FLIGHT // 2**20
    assert window_for(2, result_bytes=2**30) == 4
    for grow, expected in ((True, 2 * MAX_PER_SLOT), (False, window_for(2))):
        scheduler = Scheduler(10_000, window=4, grow_window=grow)
        for index in range(4):
            assert scheduler.next_chunk(written=0) == index
            scheduler.sent(index, now=0)
            scheduler.taken(index, "w1", now=0)
            outcome = scheduler.complete(index, "w1", now=0, size=100)
            assert outcome is Outcome.ACCEPTED
        scheduler.follow_capacity(2, now=0)
        assert scheduler.window == expected


def _release_all(scheduler: Scheduler, written: int) -> list[int]:
    released = []
    while (index := scheduler.next_chunk(written=written)) is not None:
        scheduler.sent(index, now=0)
        scheduler.taken(index, "w1", now=0)
        released.append(index)
    return released


def test_a_large_window_refills_in_bursts_and_a_small_one_chunk_by_chunk() -> None:
    from nngexport.scheduler import BURST_WINDOW

    big = Scheduler(1000, window=4 * BURST_WINDOW)
    assert _release_all(big, 0) == list(range(4 * BURST_WINDOW))
    bursts = []
    for written in range(1, 1001):
        big.complete(written - 1, "w1", now=0)
        released = _release_all(big, written)
        if released:
            bursts.append(len(released))
    assert big.finished
    # Every burst is a quarter window, until the rest of the plan fits.
    assert bursts[:-1]
    assert set(bursts[:-1]) == {BURST_WINDOW}
    assert sum(bursts) == 1000 - 4 * BURST_WINDOW

    small = Scheduler(100, window=BURST_WINDOW - 1)
    assert len(_release_all(small, 0)) == BURST_WINDOW - 1
    small.complete(0, "w1", now=0)
    assert _release_all(small, 1) == [BURST_WINDOW - 1]


def test_a_requeued_chunk_is_not_held_back_by_a_burst() -> None:
    scheduler = Scheduler(1000, window=256)
    assert len(_release_all(scheduler, 0)) == 256
    scheduler.lose_worker("w1", now=1)
    # Every chunk came back; all go out again at once, bursts or not.
    assert _release_all(scheduler, 0) == list(range(256))
