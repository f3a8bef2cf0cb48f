from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nngexport.assembly import Assembler, Verdict


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[int, list[int]]:
    total = draw(st.integers(0, 40))
    order = draw(st.permutations(range(total)))
    repeats = draw(st.lists(st.integers(0, max(total - 1, 0)), max_size=10))
    sequence = list(order)
    for repeat in repeats if total else []:
        sequence.insert(draw(st.integers(0, len(sequence))), repeat)
    return total, sequence


def _payload(index: int) -> bytes:
    return f"row {index}\r\n".encode() * (index % 3)


@given(arrivals())
def test_any_arrival_order_assembles_to_the_same_bytes(
    case: tuple[int, list[int]],
) -> None:
    total, sequence = case
    assembler = Assembler(total)
    written: list[bytes | memoryview] = []
    for index in sequence:
        written.extend(assembler.add(index, _payload(index)).ready)
    assert b"".join(written) == b"".join(_payload(i) for i in range(total))
    assert assembler.done
    assert assembler.duplicates == len(sequence) - total
    assert assembler.buffered == 0


@given(arrivals())
def test_the_buffer_holds_only_chunks_past_the_next_to_write(
    case: tuple[int, list[int]],
) -> None:
    total, sequence = case
    assembler = Assembler(total)
    seen: set[int] = set()
    for index in sequence:
        seen.add(index)
        assembler.add(index, b"x")
        waiting = {i for i in seen if i >= assembler.next_index}
        assert assembler.buffered == len(waiting)
        assert assembler.next_index not in seen


def test_a_second_copy_is_dropped_and_counted() -> None:
    assembler = Assembler(3)
    assert assembler.add(1, b"b").verdict is Verdict.ACCEPTED
    assert assembler.add(1, b"B").verdict is Verdict.DUPLICATE
    assert assembler.add(0, b"a").ready == (b"a", b"b")
    assert assembler.add(0, b"A").verdict is Verdict.DUPLICATE
    assert assembler.duplicates == 2


def test_chunks_outside_the_plan_are_refused() -> None:
    assembler = Assembler(2)
    assert assembler.add(2, b"x").verdict is Verdict.OUT_OF_RANGE
    assert assembler.add(-1, b"x").verdict is Verdict.OUT_OF_RANGE
    assert assembler.buffered == 0
