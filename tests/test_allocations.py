from __future__ import annotations

import tracemalloc

import pytest

from nngexport.allocations import AllocationTrace


def test_it_counts_what_was_held_and_what_remains() -> None:
    kept: list[bytes] = []
    with AllocationTrace(enabled=True) as trace:
        passing = [bytes(1000) for _ in range(1000)]  # about 1 MB, then freed
        del passing
        kept.append(bytes(200_000))
    assert not tracemalloc.is_tracing()
    assert trace.result is not None
    assert trace.result.peak >= 1_000_000
    assert 200_000 <= trace.result.retained < 300_000


def test_disabled_it_traces_nothing() -> None:
    with AllocationTrace(enabled=False) as trace:
        assert not tracemalloc.is_tracing()
    assert trace.result is None


def test_it_refuses_to_nest() -> None:
    with AllocationTrace(enabled=True), pytest.raises(RuntimeError, match="already"):
        AllocationTrace(enabled=True).__enter__()
