from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nngexport.membership import LIVE_ROUNDS, Membership
from nngexport.wire import Hello


def hello(name: str, slots: int = 1) -> Hello:
    return Hello(name, slots, 0, 1, "host")


def test_a_worker_is_live_until_it_misses_live_rounds_surveys() -> None:
    members = Membership()
    members.start_round()
    assert members.answered(hello("a", 2), pipe=7, now=1.0)
    assert not members.answered(hello("a", 2), pipe=7, now=1.1)
    assert members.end_round() == []
    for _ in range(LIVE_ROUNDS - 1):
        members.start_round()
        assert members.end_round() == []
        assert [w.worker for w in members.live()] == ["a"]
    members.start_round()
    assert members.end_round() == ["a"]
    assert members.live() == ()
    assert members.last_seen("a") == 1.1


def test_a_closed_connection_loses_its_worker_at_once() -> None:
    members = Membership()
    members.start_round()
    members.answered(hello("a"), pipe=1, now=0.0)
    members.answered(hello("b", 3), pipe=2, now=0.0)
    assert members.pipe_closed(2) == "b"
    assert members.pipe_closed(2) is None
    assert members.slots() == 1


@given(st.lists(st.sets(st.sampled_from("abcd")), max_size=30))
def test_live_means_answered_one_of_the_last_rounds(rounds: list[set[str]]) -> None:
    members = Membership()
    for number, answering in enumerate(rounds):
        members.start_round()
        for name in sorted(answering):
            members.answered(hello(name), pipe=None, now=float(number))
        members.end_round()
        recent = set().union(*rounds[max(0, number - LIVE_ROUNDS + 1) : number + 1])
        assert {w.worker for w in members.live()} == recent
