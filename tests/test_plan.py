from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nngexport.plan import Chunk, plan_dense, plan_from_keys


@given(
    st.sets(st.integers(-(10**12), 10**12), max_size=300),
    st.integers(1, 50),
)
def test_every_key_is_in_exactly_one_chunk(keys: set[int], chunk_rows: int) -> None:
    ordered = sorted(keys)
    chunks = plan_from_keys(ordered, chunk_rows)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for key in ordered:
        assert sum(chunk.contains(key) for chunk in chunks) == 1
    assert sum(c.rows for c in chunks) == len(ordered)
    for chunk in chunks:
        held = [k for k in ordered if chunk.contains(k)]
        assert len(held) == chunk.rows
        assert chunk.rows <= chunk_rows
    assert all(c.rows == chunk_rows for c in chunks[:-1])


@given(st.integers(0, 10_000), st.integers(1, 3000))
def test_dense_plans_match_planning_from_the_keys(total: int, chunk_rows: int) -> None:
    assert plan_dense(total, chunk_rows) == plan_from_keys(range(total), chunk_rows)


def test_chunks_are_unbounded_at_both_ends() -> None:
    first, *_, last = plan_from_keys([3, 7, 100, 2000], 2)
    assert first == Chunk(0, None, 100, 2)
    assert last == Chunk(1, 100, None, 2)
    assert first.contains(-(10**30))
    assert last.contains(10**30)


def test_an_empty_table_has_one_empty_chunk() -> None:
    assert plan_from_keys([], 10) == [Chunk(0, None, None, 0)]


@pytest.mark.parametrize("bad", [0, -1])
def test_chunk_rows_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan_dense(10, bad)
