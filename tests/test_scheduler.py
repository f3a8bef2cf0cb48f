from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nngexport.scheduler import MIN_WINDOW, Scheduler, window_for


@given(
    st.integers(0, 60),
    st.integers(1, 8),
    st.lists(st.sampled_from(["dispatch", "answer", "write"]), max_size=300),
    st.randoms(use_true_random=False),
)
def test_nothing_is_dispatched_past_the_window(
    total: int, window: int, steps: list[str], rng: object
) -> None:
    import random

    assert isinstance(rng, random.Random)
    scheduler = Scheduler(total, window=window)
    dispatched: list[int] = []
    answered: set[int] = set()
    written = 0
    for step in steps:
        if step == "dispatch":
            index = scheduler.next_chunk(written=written, now=0.0)
            if index is not None:
                assert index < written + window
                assert index not in dispatched
                dispatched.append(index)
        elif step == "answer":
            open_ = [i for i in dispatched if i not in answered]
            if open_:
                index = rng.choice(open_)
                scheduler.settle(index, now=1.0)
                answered.add(index)
        while written in answered:
            written += 1
    assert dispatched == sorted(dispatched)
    assert len(dispatched) - written <= window
    stats = scheduler.statistics()
    assert stats.in_flight == len(dispatched) - len(answered)
    assert stats.pending == total - len(dispatched)


def test_every_chunk_goes_out_once_when_results_keep_coming() -> None:
    scheduler = Scheduler(5, window=2)
    order = []
    written = 0
    while not scheduler.exhausted:
        index = scheduler.next_chunk(written=written, now=0.0)
        if index is None:
            scheduler.settle(written, now=0.5)
            written += 1
            continue
        order.append(index)
    assert order == [0, 1, 2, 3, 4]


def test_settle_reports_the_time_in_flight() -> None:
    scheduler = Scheduler(1, window=1)
    assert scheduler.next_chunk(written=0, now=10.0) == 0
    assert scheduler.is_in_flight(0)
    assert scheduler.settle(0, now=12.5) == 2.5
    assert not scheduler.is_in_flight(0)
    with pytest.raises(KeyError):
        scheduler.settle(0, now=13.0)


def test_the_window_follows_capacity() -> None:
    assert window_for(0) == MIN_WINDOW
    assert window_for(4) == 8
    with pytest.raises(ValueError, match="window must be at least 1"):
        Scheduler(3, window=0)
