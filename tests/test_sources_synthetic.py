from __future__ import annotations

import datetime
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from nngexport.errors import SourceError
from nngexport.sources import Source, open_source
from nngexport.sources.synthetic import (
    CRASH_STATUS,
    SYNTHETIC_COLUMNS,
    SyntheticSource,
    synthetic_row,
)


def read_everything(source: Source, chunk_rows: int) -> list[Sequence[object]]:
    return [row for chunk in source.plan(chunk_rows) for row in source.read(chunk)]


def test_the_same_seed_gives_the_same_rows() -> None:
    first = read_everything(open_source("synthetic:?rows=500&seed=7"), 64)
    second = read_everything(open_source("synthetic:?rows=500&seed=7"), 500)
    assert first == second
    assert first == [synthetic_row(7, k) for k in range(500)]


def test_different_seeds_give_different_rows() -> None:
    zero = read_everything(open_source("synthetic:?rows=200"), 50)
    one = read_everything(open_source("synthetic:?rows=200&seed=1"), 50)
    assert [row[0] for row in zero] == [row[0] for row in one] == list(range(200))
    differing = sum(a[1:] != b[1:] for a, b in zip(zero, one, strict=True))
    assert differing > 190


def test_each_chunk_can_be_generated_on_its_own() -> None:
    everything = read_everything(SyntheticSource(rows=1000, seed=3), 1000)
    chunks = SyntheticSource(rows=1000, seed=3).plan(128)
    assert [chunk.rows for chunk in chunks] == [128] * 7 + [104]
    for chunk in reversed(chunks):
        fresh = SyntheticSource(rows=1000, seed=3)
        start = chunk.index * 128
        assert list(fresh.read(chunk)) == everything[start : start + chunk.rows]


def test_rows_mix_every_cell_type_and_awkward_text() -> None:
    rows = read_everything(SyntheticSource(rows=3000, seed=11), 1000)
    columns = list(zip(*rows, strict=True))
    kinds = [{type(cell) for cell in column} for column in columns]
    assert kinds == [
        {int},
        {str},
        {str},
        {float},
        {int, type(None)},
        {datetime.datetime},
        {bool},
        {str, type(None)},
    ]
    stamps = columns[SYNTHETIC_COLUMNS.index("created_at")]
    assert all(
        isinstance(s, datetime.datetime) and s.tzinfo is None and s.microsecond == 0
        for s in stamps
    )
    assert {True, False} <= set(columns[SYNTHETIC_COLUMNS.index("active")])
    notes = [n for n in columns[SYNTHETIC_COLUMNS.index("note")] if n is not None]
    assert "" in notes
    for needle in (",", '"', "\n", "\r\n", "Zürich", "東京", "🎉"):
        assert any(needle in note for note in notes), needle
    assert max(map(len, notes)) > 100


def test_url_is_canonical_and_reopens_the_same_source() -> None:
    source = open_source("synthetic:?rows=42")
    assert source.url == "synthetic:?rows=42&seed=0"
    assert source.columns == SYNTHETIC_COLUMNS
    again = open_source(source.url)
    assert again.url == source.url
    assert read_everything(again, 10) == read_everything(source, 42)


def test_an_empty_table_plans_one_empty_chunk() -> None:
    source = open_source("synthetic:?rows=0&seed=5")
    chunks = source.plan(10)
    assert len(chunks) == 1
    assert list(source.read(chunks[0])) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("synthetic:", "missing parameter 'rows'"),
        ("synthetic:?seed=3", "missing parameter 'rows'"),
        ("synthetic:?rows=-1", "rows must be a non-negative integer, got '-1'"),
        ("synthetic:?rows=1e3", "rows must be a non-negative integer, got '1e3'"),
        ("synthetic:?rows=1_000", "got '1_000'"),
        ("synthetic:?rows=", "got ''"),
        ("synthetic:?rows=5&seed=x", "seed must be a non-negative integer, got 'x'"),
        (f"synthetic:?rows=5&seed={2**64}", f"seed {2**64} is not below 2**64"),
        ("synthetic:?rows=5&colour=red", "unknown parameter 'colour'"),
        ("synthetic:?rows=5&rows=6", "parameter 'rows' repeated"),
        ("synthetic:table?rows=5", "expected synthetic:?rows=N"),
        ("synthetic://host?rows=5", "expected synthetic:?rows=N"),
        ("synthetic:?rows=5#x", "unexpected fragment 'x'"),
    ],
)
def test_bad_parameters_are_reported(url: str, expected: str) -> None:
    with pytest.raises(SourceError, match=r"^synthetic source ") as info:
        open_source(url)
    assert expected in str(info.value)
    assert repr(url) in str(info.value)


def test_an_injected_failure_hits_only_the_chunk_holding_that_row(
    tmp_path: Path,
) -> None:
    source = open_source("synthetic:?rows=100&fail_at=42")
    first, second = source.plan(50)
    assert len(list(source.read(second))) == 50
    with pytest.raises(SourceError, match=r"injected failure in chunk 0 \(row 42\)"):
        list(source.read(first))
    marker = tmp_path / "failed-once"
    once = open_source(f"synthetic:?rows=100&fail_at=42&fail_once={marker}")
    assert open_source(once.url).url == once.url
    with pytest.raises(SourceError):
        list(once.read(first))
    assert marker.exists()
    assert len(list(once.read(first))) == 50


def test_an_injected_crash_ends_the_process_reading_that_row() -> None:
    url = "synthetic:?rows=100&crash_at=42"
    assert open_source(url).url == "synthetic:?rows=100&seed=0&crash_at=42"
    program = (
        "import sys; from nngexport.sources import open_source;"
        f" s = open_source({url!r}); first, second = s.plan(50);"
        " assert len(list(s.read(second))) == 50; list(s.read(first));"
        " sys.exit(0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, timeout=60, check=False
    )
    assert result.returncode == CRASH_STATUS, result.stderr
