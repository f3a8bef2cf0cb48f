from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nngexport.errors import SourceError
from nngexport.sources import Source, open_source
from nngexport.sources.sqlite import SqliteSource, open_sqlite_source


def make_db(
    path: Path, schema: str, rows: Iterable[Sequence[object]] = (), *, table: str = "t"
) -> Path:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(schema)
        rows = list(rows)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    return path


def url_of(path: Path, query: str = "table=t") -> str:
    return f"sqlite://{quote(str(path))}?{query}"


def read_all(source: Source, chunk_rows: int) -> list[list[Sequence[object]]]:
    return [list(source.read(chunk)) for chunk in source.plan(chunk_rows)]


@pytest.fixture
def people(tmp_path: Path) -> Path:
    return make_db(
        tmp_path / "people.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)",
        [(k, f"n{k}", k % 90) for k in (1, 2, 5, 10, 11, 20, 30, 31, 32, 100)],
    )


def test_gapped_keys_are_planned_into_full_chunks(people: Path) -> None:
    with closing(open_source(url_of(people))) as source:
        chunks = source.plan(3)
        assert [chunk.rows for chunk in chunks] == [3, 3, 3, 1]
        assert [len(rows) for rows in read_all(source, 3)] == [3, 3, 3, 1]
        assert [row[0] for row in source.read(chunks[1])] == [10, 11, 20]


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.integers(-(2**63), 2**63 - 1), max_size=60),
    st.integers(1, 12),
)
def test_every_row_is_read_once_in_key_order(keys: set[int], chunk_rows: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = make_db(
            Path(scratch) / "keys.db",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, label TEXT)",
            [(key, str(key)) for key in keys],
        )
        with closing(open_source(url_of(path))) as source:
            chunks = source.plan(chunk_rows)
            read = read_all(source, chunk_rows)
    assert [row[0] for rows in read for row in rows] == sorted(keys)
    for chunk, rows in zip(chunks, read, strict=True):
        assert len(rows) == chunk.rows
        for row in rows:
            assert isinstance(row[0], int)
            assert chunk.contains(row[0])
        assert all(row[1] == str(row[0]) for row in rows)


def test_integer_primary_key_is_the_default_key(people: Path) -> None:
    with closing(open_sqlite_source(url_of(people))) as source:
        assert source.key == "id"
        assert source.columns == ("id", "name", "age")
        assert "&key=id&" in source.url


def test_rowid_is_the_default_key_and_not_a_column(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "plain.db",
        "CREATE TABLE t (name TEXT, score REAL)",
        [("c", 3.0), ("a", 1.5), ("b", None)],
    )
    with closing(open_sqlite_source(url_of(path))) as source:
        assert source.key == "rowid"
        assert source.columns == ("name", "score")
        assert read_all(source, 2) == [[("c", 3.0), ("a", 1.5)], [("b", None)]]


def test_a_column_named_rowid_does_not_hide_the_rowid(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "shadow.db",
        "CREATE TABLE t (rowid TEXT, v TEXT)",
        [("x", "1"), ("y", "2")],
    )
    with closing(open_sqlite_source(url_of(path))) as source:
        assert source.key == "_rowid_"
        assert source.columns == ("rowid", "v")
        assert read_all(source, 10) == [[("x", "1"), ("y", "2")]]


def test_explicit_key_orders_and_chunks_by_that_column(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "explicit.db",
        "CREATE TABLE t (name TEXT, seq INTEGER UNIQUE)",
        [("late", 30), ("early", -5), ("middle", 7)],
    )
    with closing(open_sqlite_source(url_of(path, "table=t&key=seq"))) as source:
        assert source.key == "seq"
        assert read_all(source, 2) == [
            [("early", -5), ("middle", 7)],
            [("late", 30)],
        ]


def test_columns_selects_and_orders_the_cells(people: Path) -> None:
    query = "table=t&columns=age,name"
    with closing(open_sqlite_source(url_of(people, query))) as source:
        assert source.columns == ("age", "name")
        rows = [row for rows in read_all(source, 4) for row in rows]
    assert rows[:2] == [(1, "n1"), (2, "n2")]


def test_names_are_matched_without_regard_to_case(people: Path) -> None:
    query = "table=T&key=ID&columns=NAME"
    with closing(open_sqlite_source(url_of(people, query))) as source:
        assert source.columns == ("name",)
        assert source.url.endswith("?table=t&key=id&columns=name")


def test_canonical_url_reopens_the_same_source(tmp_path: Path) -> None:
    directory = tmp_path / "odd dir %20 #1"
    directory.mkdir()
    path = make_db(
        directory / "people.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)",
        [(3, "a"), (9, "b"), (27, "c")],
    )
    with closing(open_source(url_of(path, "columns=name&table=t"))) as first:
        url = first.url
        rows = read_all(first, 2)
    assert url == f"sqlite://{quote(str(path))}?table=t&key=id&columns=name"
    with closing(open_source(url)) as again:
        assert again.url == url
        assert again.columns == ("name",)
        assert read_all(again, 2) == rows


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("table=nope", "no table 'nope' in "),
        ("table=t&columns=name,zz", "no column 'zz' in table 't'"),
        ("table=t&key=zz", "no column 'zz' in table 't'"),
        ("table=t&key=name", "key column 'name' is declared 'TEXT'"),
        ("table=t&columns=name,NAME", "column 'name' is listed more than once"),
        ("table=t&tabel=t", "unknown parameter 'tabel'"),
        ("table=t&table=t", "parameter 'table' repeated"),
        ("key=id", "missing parameter 'table'"),
        ("table=", "table name '' is not a plain identifier"),
        ("table=t&columns=", "column name '' is not a plain identifier"),
    ],
)
def test_bad_names_and_parameters_are_reported(
    people: Path, query: str, expected: str
) -> None:
    url = url_of(people, query)
    with pytest.raises(SourceError, match=r"^sqlite source ") as info:
        open_source(url)
    assert expected in str(info.value)
    assert repr(url) in str(info.value)


def test_unknown_table_message_lists_the_tables(people: Path) -> None:
    with pytest.raises(SourceError) as info:
        open_source(url_of(people, "table=nope"))
    assert str(info.value).endswith(f"no table 'nope' in {people} (tables: t)")


def test_a_long_list_of_tables_is_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "many.db"
    with closing(sqlite3.connect(path)) as db:
        for number in range(30):
            db.execute(f"CREATE TABLE t{number:02d} (v TEXT)")
    with pytest.raises(SourceError) as info:
        open_source(url_of(path, "table=nope"))
    assert str(info.value).endswith("t18, t19 and 10 more)")


def test_missing_file_is_reported_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(SourceError, match=r"no such file '.*absent\.db'"):
        open_source(url_of(path))
    assert not path.exists()


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, just some text\n" * 100)
    with pytest.raises(SourceError, match="is not a readable SQLite database"):
        open_source(url_of(path))


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a file"):
        open_source(url_of(tmp_path))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:relative.db?table=t", "path 'relative.db' is not absolute"),
        ("sqlite://host/x.db?table=t", "unexpected host 'host'"),
        ("sqlite:///x.db?table=t#frag", "unexpected fragment 'frag'"),
        ("sqlite:///x.db?table=t&&&", "malformed query"),
    ],
)
def test_malformed_urls_are_reported(url: str, expected: str) -> None:
    with pytest.raises(SourceError, match=r"^sqlite source ") as info:
        open_source(url)
    assert expected in str(info.value)


@pytest.mark.parametrize("url", ["postgres://db/orders", "orders.db", "", "SQLITE"])
def test_unknown_schemes_name_the_accepted_forms(url: str) -> None:
    with pytest.raises(SourceError) as info:
        open_source(url)
    message = str(info.value)
    assert f"unknown source URL {url!r}" in message
    assert "sqlite:///ABSOLUTE/PATH.db?table=NAME" in message
    assert "synthetic:?rows=N" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "query",
    [
        "table=" + quote("t; DROP TABLE t; --"),
        "table=" + quote('t" WHERE 1=1 --'),
        "table=t&columns=" + quote("name FROM t; DROP TABLE t; --"),
        "table=t&key=" + quote("id) OR (1=1"),
        "table=" + quote("sqlite_master WHERE 1"),
    ],
)
def test_sql_injection_in_names_is_rejected(people: Path, query: str) -> None:
    with pytest.raises(SourceError, match="is not a plain identifier"):
        open_source(url_of(people, query))
    with closing(sqlite3.connect(people)) as db:
        assert db.execute("SELECT count(*) FROM t").fetchone() == (10,)


def test_a_column_name_that_is_not_an_identifier_must_be_left_out(
    tmp_path: Path,
) -> None:
    path = make_db(
        tmp_path / "spaces.db",
        'CREATE TABLE t (id INTEGER PRIMARY KEY, "order date" TEXT, ok TEXT)',
        [(1, "2024-01-01", "yes")],
    )
    with pytest.raises(SourceError, match=r"'order date' .* &columns="):
        open_source(url_of(path))
    with closing(open_source(url_of(path, "table=t&columns=ok"))) as source:
        assert read_all(source, 5) == [[("yes",)]]


def test_a_table_without_rowid_needs_an_integer_key(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "norowid.db",
        "CREATE TABLE t (code TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID",
        [("b", 2), ("a", 1)],
    )
    with pytest.raises(SourceError, match="has no rowid and no INTEGER PRIMARY"):
        open_source(url_of(path))
    with pytest.raises(SourceError, match="has no rowid"):
        open_source(url_of(path, "table=t&key=rowid"))
    with closing(open_source(url_of(path, "table=t&key=n"))) as source:
        assert read_all(source, 1) == [[("a", 1)], [("b", 2)]]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 2], "holds the value 2 more than once"),
        ([1, "two", 3], "holds the value 'two'"),
        ([1, None], "holds the value None"),
        ([1, 2.5], "holds the value 2.5"),
    ],
)
def test_keys_that_are_not_unique_integers_fail_the_plan(
    tmp_path: Path, values: list[object], expected: str
) -> None:
    path = make_db(
        tmp_path / "badkeys.db",
        "CREATE TABLE t (k INTEGER, v TEXT)",
        [(value, "x") for value in values],
    )
    with (
        closing(open_source(url_of(path, "table=t&key=k"))) as source,
        pytest.raises(SourceError, match="key column 'k'") as info,
    ):
        source.plan(10)
    assert expected in str(info.value)


def test_read_errors_become_source_errors(people: Path) -> None:
    source = open_source(url_of(people))
    chunk = source.plan(100)[0]
    source.close()
    with pytest.raises(SourceError, match="cannot read chunk 0"):
        list(source.read(chunk))


def test_a_sqlite_source_satisfies_the_protocol(people: Path) -> None:
    source: Source = open_sqlite_source(url_of(people))
    source.close()
    assert isinstance(source, SqliteSource)


@settings(max_examples=40, deadline=None)
@given(
    st.sets(st.integers(-(2**63), 2**63 - 1), max_size=40),
    st.integers(1, 9),
    st.sampled_from(["INTEGER PRIMARY KEY", "INTEGER"]),
)
def test_rowid_and_scanned_plans_hold_the_same_rows(
    keys: set[int], chunk_rows: int, key_type: str
) -> None:
    # The INTEGER PRIMARY KEY is planned in SQL steps; a plain INTEGER column
    # by streaming its keys. Both must cut the table into the same row sets.
    with tempfile.TemporaryDirectory() as scratch:
        path = make_db(
            Path(scratch) / "keys.db",
            f"CREATE TABLE t (id {key_type}, label TEXT)",
            [(key, str(key)) for key in keys],
        )
        with closing(open_source(url_of(path, "table=t&key=id"))) as source:
            chunks = source.plan(chunk_rows)
            read = read_all(source, chunk_rows)
    expected = sorted(keys)
    assert [len(rows) for rows in read] == [c.rows for c in chunks]
    assert [row[0] for rows in read for row in rows] == expected
    step = range(0, len(expected), chunk_rows)
    assert [c.rows for c in chunks] == (
        [len(expected[i : i + chunk_rows]) for i in step] or [0]
    )
