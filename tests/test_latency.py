from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nngexport.latency import HIGHEST, LOWEST, LatencyHistogram

latencies = st.lists(
    st.floats(min_value=LOWEST, max_value=HIGHEST, allow_nan=False), min_size=1
)


@given(latencies, st.floats(min_value=0.01, max_value=1.0))
def test_a_quantile_is_an_upper_bound_within_six_percent(
    values: list[float], q: float
) -> None:
    histogram = LatencyHistogram()
    for value in values:
        histogram.add(value)
    exact = sorted(values)[math.ceil(q * len(values)) - 1]
    answer = histogram.quantile(q)
    assert answer is not None
    assert exact * (1 - 1e-9) <= answer <= exact * 1.06


def test_an_empty_histogram_has_no_quantile() -> None:
    assert LatencyHistogram().quantile(0.5) is None
    with pytest.raises(ValueError, match="quantile must be in"):
        LatencyHistogram().quantile(0)
