from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import pytest

from nngexport import demo_data
from nngexport.demo_data import (
    SCHEMA_VERSION,
    build_demo_database,
    demo_database_path,
    ensure_demo_database,
)
from nngexport.sources import open_source


def fetch(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def test_a_build_has_exactly_the_rows_asked_for_with_gaps_in_the_ids(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.db"
    build_demo_database(path, 1000)
    ids = [row[0] for row in fetch(path, "SELECT id FROM orders ORDER BY id")]
    assert len(ids) == 1000
    assert len(set(ids)) == 1000
    assert all(isinstance(key, int) for key in ids)
    assert ids != list(range(1, 1001))
    assert sorted(tmp_path.iterdir()) == [path]


def test_builds_are_deterministic_per_seed(tmp_path: Path) -> None:
    build_demo_database(tmp_path / "a.db", 300, seed=4)
    build_demo_database(tmp_path / "b.db", 300, seed=4)
    build_demo_database(tmp_path / "c.db", 300, seed=5)
    everything = "SELECT * FROM orders ORDER BY id"
    a = fetch(tmp_path / "a.db", everything)
    assert a == fetch(tmp_path / "b.db", everything)
    assert a != fetch(tmp_path / "c.db", everything)


def test_notes_hold_nulls_and_text_that_needs_quoting(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    build_demo_database(path, 1000)
    notes = [row[0] for row in fetch(path, "SELECT note FROM orders")]
    assert None in notes
    assert "" in notes
    text = "".join(note for note in notes if isinstance(note, str))
    for needle in (",", '"', "\n", "\r\n", "Zürich", "東京"):
        assert needle in text, needle
    paid = {row[0] for row in fetch(path, "SELECT paid FROM orders")}
    assert paid == {0, 1}


def test_the_demo_table_opens_as_a_source_keyed_by_id(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    build_demo_database(path, 250)
    url = f"sqlite://{quote(str(path))}?table=orders"
    source = open_source(url)
    try:
        assert source.url.startswith(f"{url}&key=id&")
        assert [chunk.rows for chunk in source.plan(100)] == [100, 100, 50]
    finally:
        source.close()


def test_an_empty_build_has_the_table_and_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    build_demo_database(path, 0)
    assert fetch(path, "SELECT count(*) FROM orders") == [(0,)]


def test_a_failed_build_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.db"
    path.write_bytes(b"previous contents")
    real_orders = demo_data._orders

    def failing_orders(rows: int, seed: int) -> Iterator[tuple[object, ...]]:
        yield from real_orders(10, seed)
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_data, "_orders", failing_orders)
    with pytest.raises(KeyboardInterrupt):
        build_demo_database(path, 100)
    assert sorted(tmp_path.iterdir()) == [path]
    assert path.read_bytes() == b"previous contents"


def test_a_build_into_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        build_demo_database(tmp_path / "missing" / "orders.db", 10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("rows", "seed"), [(-1, 0), (10, -1), (10, 2**64)])
def test_impossible_sizes_and_seeds_are_refused(
    tmp_path: Path, rows: int, seed: int
) -> None:
    with pytest.raises(ValueError, match="must"):
        build_demo_database(tmp_path / "x.db", rows, seed=seed)
    assert list(tmp_path.iterdir()) == []


def test_cache_path_honours_nngexport_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NNGEXPORT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = demo_database_path(1234, 7)
    assert path.parent == tmp_path / "cache"
    assert "1234" in path.name
    assert "7" in path.name
    assert f"v{SCHEMA_VERSION}" in path.name
    assert demo_database_path(1234, 8) != path
    assert demo_database_path(1235, 7) != path


def test_cache_path_falls_back_to_xdg_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NNGEXPORT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert demo_database_path(10).parent == tmp_path / "xdg" / "nngexport"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert demo_database_path(10).parent == tmp_path / "home" / ".cache" / "nngexport"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert demo_database_path(10).parent == tmp_path / "home" / ".cache" / "nngexport"


def test_ensure_builds_once_and_then_reuses_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NNGEXPORT_CACHE", str(tmp_path / "cache" / "nested"))
    path = ensure_demo_database(50, seed=2)
    assert path == demo_database_path(50, 2)
    assert fetch(path, "SELECT count(*) FROM orders") == [(50,)]

    def no_rebuild(path: Path, rows: int, *, seed: int = 0) -> None:
        raise AssertionError("the cached database was rebuilt")

    monkeypatch.setattr(demo_data, "build_demo_database", no_rebuild)
    assert ensure_demo_database(50, seed=2) == path
