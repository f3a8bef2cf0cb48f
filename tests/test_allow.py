from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nngexport.allow import SourceNotAllowedError, SourcePolicy
from nngexport.errors import UsageError


def test_nothing_is_allowed_without_a_pattern() -> None:
    policy = SourcePolicy([])
    assert not policy.allows("synthetic:?rows=10")
    with pytest.raises(SourceNotAllowedError, match="allows no source; start it"):
        policy.check("synthetic:?rows=10", worker="w1")


def test_patterns_match_urls_with_or_without_their_query() -> None:
    policy = SourcePolicy(["synthetic:*"])
    assert policy.allows("synthetic:?rows=10&seed=0")
    assert not policy.allows("blocks:?count=1&size=100")
    exact = SourcePolicy(["blocks:?count=1&size=100"])
    assert exact.allows("blocks:?count=1&size=100")
    assert not exact.allows("blocks:?count=2&size=100")


def test_sqlite_sources_match_by_their_real_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.db").touch()
    (tmp_path / "secret.db").touch()
    policy = SourcePolicy([f"{data}/*.db"])
    assert policy.allows(f"sqlite://{data}/orders.db?table=orders")
    assert SourcePolicy([f"sqlite://{data}/orders.db"]).allows(
        f"sqlite://{data}/orders.db?table=orders&key=id"
    )
    # ".." and links are resolved before matching.
    sneaky = f"sqlite://{data}/../secret.db?table=t"
    assert not policy.allows(sneaky)
    os.symlink(tmp_path / "secret.db", data / "link.db")
    linked = f"sqlite://{data}/link.db?table=t"
    assert not policy.allows(linked)
    with pytest.raises(SourceNotAllowedError, match="its --allow patterns are"):
        policy.check(sneaky, worker="w1")


def test_an_empty_pattern_is_refused() -> None:
    with pytest.raises(UsageError, match="must not be empty"):
        SourcePolicy([" "])


@given(st.text(max_size=200))
def test_any_url_is_either_allowed_or_refused(url: str) -> None:
    SourcePolicy(["sqlite:///data/*.db", "synthetic:*"]).allows(url)
