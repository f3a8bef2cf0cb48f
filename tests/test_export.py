"""Whole exports through real worker processes and real NNG sockets."""

from __future__ import annotations

import csv
import io
import itertools
import sqlite3
from pathlib import Path

import pytest
import trio

from nngexport import Progress, run_export
from nngexport.render import render_header, render_rows
from nngexport.sources import open_source

pytestmark = pytest.mark.timeout(120)


async def _reference(source: str, path: Path, chunk_rows: int) -> bytes:
    await run_export(source, path, workers=0, chunk_rows=chunk_rows)
    return path.read_bytes()


def _single_pass(source_url: str) -> bytes:
    """The whole table rendered in one go, no chunks at all."""
    source = open_source(source_url)
    try:
        (everything,) = source.plan(10**12)
        _, body = render_rows(source.read(everything))
        return render_header(source.columns) + body
    finally:
        source.close()


@pytest.mark.parametrize(
    ("workers", "chunk_rows"), [(1, 1), (1, 5000), (2, 97), (3, 1000), (4, 250)]
)
async def test_sqlite_export_is_byte_identical_to_in_process(
    awkward_db: Path, tmp_path: Path, workers: int, chunk_rows: int
) -> None:
    source = f"sqlite://{awkward_db}?table=items"
    with trio.fail_after(60):
        expected = await _reference(source, tmp_path / "ref.csv", chunk_rows)
        summary = await run_export(
            source, tmp_path / "out.csv", workers=workers, chunk_rows=chunk_rows
        )
    assert (tmp_path / "out.csv").read_bytes() == expected
    assert expected == _single_pass(source)
    assert summary.workers == workers
    assert (
        summary.rows
        == sqlite3.connect(awkward_db)
        .execute("SELECT count(*) FROM items")
        .fetchone()[0]
    )


@pytest.mark.parametrize(("workers", "chunk_rows"), [(1, 300), (2, 1), (4, 1234)])
async def test_synthetic_export_is_byte_identical_to_in_process(
    tmp_path: Path, workers: int, chunk_rows: int
) -> None:
    source = "synthetic:?rows=5000&seed=7"
    with trio.fail_after(60):
        expected = await _reference(source, tmp_path / "ref.csv", chunk_rows)
        summary = await run_export(
            source, tmp_path / "out.csv", workers=workers, chunk_rows=chunk_rows
        )
    assert (tmp_path / "out.csv").read_bytes() == expected
    assert expected == _single_pass(source)
    assert summary.rows == 5000
    assert summary.chunks == -(-5000 // chunk_rows)


async def test_awkward_strings_round_trip_through_csv_reader(
    awkward_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    with trio.fail_after(60):
        await run_export(
            f"sqlite://{awkward_db}?table=items&columns=id,label",
            out,
            workers=2,
            chunk_rows=100,
        )
    with out.open(newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))
    db = sqlite3.connect(awkward_db)
    expected = db.execute("SELECT id, label FROM items ORDER BY id").fetchall()
    assert header == ["id", "label"]
    assert rows == [
        [str(key), "" if label is None else label] for key, label in expected
    ]
    assert {label for _, label in expected} >= {"東京", 'say "hi"', "crlf\r\nbreak"}


async def test_progress_events_count_up_to_the_summary(tmp_path: Path) -> None:
    events: list[Progress] = []
    with trio.fail_after(60):
        summary = await run_export(
            "synthetic:?rows=3000",
            tmp_path / "out.csv",
            workers=2,
            chunk_rows=100,
            on_progress=events.append,
        )
    # Each event is news: more chunks written, or a recovery counter moved.
    for before, after in itertools.pairwise(events):
        assert after.chunks_done >= before.chunks_done
        moved = [
            (getattr(before, name), getattr(after, name))
            for name in ("reissued", "duplicates", "workers_lost")
        ]
        assert all(b <= a for b, a in moved)
        assert after.chunks_done > before.chunks_done or any(b < a for b, a in moved)
    last = events[-1]
    assert (last.chunks_done, last.rows_done) == (summary.chunks, summary.rows)
    assert last.bytes_done == summary.bytes
    assert last.fraction == 1.0
    assert all(e.workers == 2 for e in events)


async def test_an_empty_table_exports_just_the_header(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    with trio.fail_after(60):
        await run_export(f"sqlite://{db}?table=t", tmp_path / "out.csv", workers=1)
    assert (tmp_path / "out.csv").read_bytes() == b"id,name\r\n"


def test_sync_export_works_outside_trio(tmp_path: Path) -> None:
    from nngexport import export

    summary = export("synthetic:?rows=1000", tmp_path / "out.csv", workers=1)
    reference = export("synthetic:?rows=1000", tmp_path / "ref.csv", workers=0)
    assert summary.sha256 == reference.sha256
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert list(io.StringIO((tmp_path / "out.csv").read_text()))
