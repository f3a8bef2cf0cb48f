"""A table in a SQLite database file, read in keyset chunks.

URL form: ``sqlite:///ABSOLUTE/PATH.db?table=NAME[&key=COLUMN][&columns=A,B,C]``.

The key defaults to the table's ``INTEGER PRIMARY KEY`` column, else to the
hidden ``rowid``; the columns default to every column of the table in order
(the hidden rowid is not one of them). Tables only, not views. The file is
opened read-only and is never created.

Names from the URL reach SQL only after they have been checked to be plain
identifiers *and* found in the database's schema; they are then double-quoted
anyway. Key bounds go through ``?`` parameters.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from urllib.parse import quote, unquote, urlsplit

from ..errors import SourceError
from ..plan import Chunk, check_chunk_rows, chunks_between, plan_from_keys
from . import _query_params

__all__ = ["SqliteSource", "open_sqlite_source"]

_FORM = "sqlite:///ABSOLUTE/PATH.db?table=NAME[&key=COLUMN][&columns=A,B,C]"
_PARAMS = ("table", "key", "columns")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# SQLite answers to any of these names for the hidden rowid, unless a real
# column has taken the name.
_ROWID_ALIASES = ("rowid", "_rowid_", "oid")
# The largest key SQLite can store; no chunk can start past it.
_MAX_KEY = 2**63 - 1
# Names an error message lists before it says "and N more".
_LISTED_NAMES = 20

# Makes the SourceError for a message, prefixed with the URL being opened.
_Fail = Callable[[str], SourceError]
# A row of PRAGMA table_info: (cid, name, type, notnull, default, pk).
_ColumnInfo = tuple[int, str, str, int, object, int]


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteSource:
    """A SQLite table exported in key order; see the module docstring.

    Open it with :func:`open_sqlite_source` (or :func:`~nngexport.sources.
    open_source`), which validates everything before a row is read.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        path: str,
        table: str,
        key: str,
        columns: tuple[str, ...],
        key_is_rowid: bool = False,
    ) -> None:
        self._connection = connection
        self._key = key
        self._columns = columns
        self._url = (
            f"sqlite://{quote(path, safe='/')}?table={table}&key={key}"
            f"&columns={','.join(columns)}"
        )
        source = _quote_identifier(table)
        key_sql = _quote_identifier(key)
        select = ", ".join(_quote_identifier(c) for c in columns)
        self._keys_sql = f"SELECT {key_sql} FROM {source} ORDER BY {key_sql}"
        # The last key and the count of the next chunk_rows keys from a bound:
        # one step of planning, walked by SQLite in the key's b-tree.
        step = f"SELECT max(k), count(*) FROM (SELECT {key_sql} AS k FROM {source}"
        self._first_step_sql = f"{step} ORDER BY {key_sql} LIMIT ?)"
        self._next_step_sql = f"{step} WHERE {key_sql} >= ? ORDER BY {key_sql} LIMIT ?)"
        self._key_is_rowid = key_is_rowid
        base = f"SELECT {select} FROM {source}"
        order = f"ORDER BY {key_sql}"
        # One statement per combination of present bounds, indexed by
        # (has lo, has hi), so read() never builds SQL.
        self._read_sql = {
            (True, True): f"{base} WHERE {key_sql} >= ? AND {key_sql} < ? {order}",
            (True, False): f"{base} WHERE {key_sql} >= ? {order}",
            (False, True): f"{base} WHERE {key_sql} < ? {order}",
            (False, False): f"{base} {order}",
        }

    @property
    def url(self) -> str:
        """Canonical URL, with table, key and columns spelled out."""
        return self._url

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the exported columns, as the schema spells them."""
        return self._columns

    @property
    def key(self) -> str:
        """The key column (``rowid`` or an alias of it for the hidden rowid)."""
        return self._key

    def plan(self, chunk_rows: int) -> list[Chunk]:
        """Plan keyset chunks of ``chunk_rows`` rows from the table's keys.

        Raises:
            SourceError: The keys cannot be read, or are not unique integers.
        """
        check_chunk_rows(chunk_rows)
        try:
            if self._key_is_rowid:
                return self._plan_in_steps(chunk_rows)
            cursor = self._connection.execute(self._keys_sql)
            return plan_from_keys(self._checked_keys(cursor), chunk_rows)
        except sqlite3.Error as exc:
            raise self._error(f"cannot read the keys: {exc}") from exc

    def _plan_in_steps(self, chunk_rows: int) -> list[Chunk]:
        # A rowid key is a unique integer by definition, so there is nothing
        # to check and no need to bring every key into Python: each step asks
        # SQLite for the last key of the next chunk_rows rows (LIMIT in the
        # rowid b-tree, not OFFSET), and the next chunk starts one past it.
        # About 5x faster than streaming the keys on a million-row table.
        boundaries: list[int] = []
        rows: list[int] = []
        params: tuple[int, ...]
        while True:
            if boundaries:
                sql, params = self._next_step_sql, (boundaries[-1], chunk_rows)
            else:
                sql, params = self._first_step_sql, (chunk_rows,)
            last, count = self._connection.execute(sql, params).fetchone()
            if count == 0 and rows:
                boundaries.pop()  # that boundary opened an empty chunk
                break
            rows.append(count)
            if count < chunk_rows or last >= _MAX_KEY:
                break
            boundaries.append(last + 1)
        return chunks_between(boundaries, rows)

    def read(self, chunk: Chunk) -> Iterator[Sequence[object]]:
        """Yield the rows whose key lies in the chunk's range, in key order.

        Raises:
            SourceError: The rows cannot be read.
        """
        params = [bound for bound in (chunk.lo, chunk.hi) if bound is not None]
        sql = self._read_sql[chunk.lo is not None, chunk.hi is not None]
        try:
            yield from self._connection.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._error(f"cannot read chunk {chunk.index}: {exc}") from exc

    def close(self) -> None:
        """Close the database connection."""
        self._connection.close()

    def _checked_keys(self, rows: Iterable[tuple[object, ...]]) -> Iterator[int]:
        # plan_from_keys trusts its input to be strictly increasing; a declared
        # INTEGER column can still hold NULL, text, reals or duplicates.
        previous: int | None = None
        for (key,) in rows:
            if type(key) is not int:
                raise self._error(
                    f"key column {self._key!r} holds the value {key!r};"
                    " the key must hold unique integers"
                )
            if previous is not None and key <= previous:
                raise self._error(
                    f"key column {self._key!r} holds the value {key!r} more than"
                    " once; the key must hold unique integers"
                )
            previous = key
            yield key

    def _error(self, message: str) -> SourceError:
        return SourceError(f"sqlite source {self._url!r}: {message}")


def open_sqlite_source(url: str) -> SqliteSource:
    """Open and validate a ``sqlite:`` source URL.

    Raises:
        SourceError: The URL is malformed, the file is missing or is not a
            SQLite database, or the table, key or a column is not there or not
            usable.
    """

    def fail(message: str) -> SourceError:
        return SourceError(f"sqlite source {url!r}: {message}")

    path, params = _parse_url(url, fail)
    table = params["table"]
    key = params.get("key")
    wanted = params["columns"].split(",") if "columns" in params else None
    _check_identifier("table name", table, fail)
    for name in ([key] if key is not None else []) + (wanted or []):
        _check_identifier("column name", name, fail)
    if not os.path.exists(path):
        raise fail(f"no such file {path!r}")
    if not os.path.isfile(path):
        raise fail(f"{path!r} is not a file")
    try:
        connection = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise fail(f"cannot open {path!r}: {exc}") from exc
    try:
        table, key, columns, key_is_rowid = _resolve(
            connection, path, table, key, wanted, fail
        )
    except BaseException:
        connection.close()
        raise
    return SqliteSource(
        connection,
        path=path,
        table=table,
        key=key,
        columns=columns,
        key_is_rowid=key_is_rowid,
    )


def _parse_url(url: str, fail: _Fail) -> tuple[str, dict[str, str]]:
    try:
        parts = urlsplit(url)
        path = unquote(parts.path, errors="strict")
    except ValueError as exc:
        raise fail(f"malformed URL ({exc}); expected {_FORM}") from None
    if parts.scheme.lower() != "sqlite":
        raise fail(f"scheme is not sqlite; expected {_FORM}")
    if parts.netloc:
        raise fail(
            f"unexpected host {parts.netloc!r} (use three slashes before an"
            f" absolute path); expected {_FORM}"
        )
    if parts.fragment:
        raise fail(f"unexpected fragment {parts.fragment!r}; expected {_FORM}")
    if not path.startswith("/"):
        raise fail(f"path {path!r} is not absolute; expected {_FORM}")
    params = _query_params("sqlite", url, parts.query, _PARAMS)
    if "table" not in params:
        raise fail(f"missing parameter 'table'; expected {_FORM}")
    return path, params


def _check_identifier(what: str, name: str, fail: _Fail) -> None:
    if not _IDENTIFIER.fullmatch(name):
        raise fail(
            f"{what} {name!r} is not a plain identifier"
            " (ASCII letters, digits and _, not starting with a digit)"
        )


def _resolve(
    connection: sqlite3.Connection,
    path: str,
    table: str,
    key: str | None,
    wanted: list[str] | None,
    fail: _Fail,
) -> tuple[str, str, tuple[str, ...], bool]:
    """Check the names against the schema; return their schema spellings.

    The last item says whether the key is the table's rowid (or an alias).
    """
    try:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
    except sqlite3.DatabaseError as exc:
        raise fail(f"{path!r} is not a readable SQLite database: {exc}") from exc
    # SQLite matches names without regard to ASCII case.
    by_lower = {name.lower(): name for name in tables}
    if table.lower() not in by_lower:
        listed = _listing(t for t in tables if not t.startswith("sqlite_"))
        raise fail(f"no table {table!r} in {path} (tables: {listed})")
    table = by_lower[table.lower()]
    quoted = _quote_identifier(table)
    try:
        info: list[_ColumnInfo] = connection.execute(
            f"PRAGMA table_info({quoted})"
        ).fetchall()
    except sqlite3.Error as exc:
        raise fail(f"cannot read the columns of table {table!r}: {exc}") from exc
    schema = _Schema(table, info, _rowid_name(connection, quoted, info), fail)
    key = schema.key(key)
    return table, key, schema.columns(wanted), schema.is_rowid(key)


class _Schema:
    """One table's columns, for resolving the key and columns a URL names."""

    def __init__(
        self, table: str, info: list[_ColumnInfo], rowid: str | None, fail: _Fail
    ) -> None:
        self._table = table
        self._info = info
        self._rowid = rowid
        self._fail = fail
        self._declared = {row[1].lower(): row for row in info}

    def column(self, name: str) -> _ColumnInfo:
        row = self._declared.get(name.lower())
        if row is None:
            listed = _listing(row[1] for row in self._info)
            raise self._fail(
                f"no column {name!r} in table {self._table!r} (columns: {listed})"
            )
        return row

    def key(self, name: str | None) -> str:
        if name is None:
            return self._default_key()
        if name.lower() in _ROWID_ALIASES and name.lower() not in self._declared:
            if self._rowid is None:
                raise self._fail(
                    f"table {self._table!r} has no rowid; name an integer key"
                    " column with &key=COLUMN"
                )
            return self._rowid
        _, name, decltype, *_ = self.column(name)
        # SQLite gives a column INTEGER affinity when its declared type
        # contains "INT"; other columns keep text and reals as they are.
        if "INT" not in decltype.upper():
            raise self._fail(
                f"key column {name!r} is declared {decltype!r}, not INTEGER;"
                " the key must be a column holding unique integers"
            )
        return name

    def is_rowid(self, key: str) -> bool:
        """Whether ``key`` is the rowid: hidden, or an INTEGER PRIMARY KEY alias."""
        if self._rowid is None:
            return False
        if key == self._rowid:
            return True
        primary = [row for row in self._info if row[5] > 0]
        # Only a lone primary key declared exactly INTEGER aliases the rowid.
        return (
            len(primary) == 1
            and primary[0][1] == key
            and primary[0][2].upper() == "INTEGER"
        )

    def columns(self, wanted: list[str] | None) -> tuple[str, ...]:
        if wanted is not None:
            columns = tuple(self.column(name)[1] for name in wanted)
            for position, name in enumerate(columns):
                if name in columns[:position]:
                    raise self._fail(f"column {name!r} is listed more than once")
            return columns
        columns = tuple(row[1] for row in self._info)
        for name in columns:
            if not _IDENTIFIER.fullmatch(name):
                raise self._fail(
                    f"column {name!r} of table {self._table!r} is not a plain"
                    " identifier; list the columns to export with &columns="
                )
        return columns

    def _default_key(self) -> str:
        primary = [row for row in self._info if row[5] > 0]
        if len(primary) == 1 and primary[0][2].upper() == "INTEGER":
            # In a rowid table this column is the rowid under another name; in
            # a WITHOUT ROWID table it is at least unique, and plan() checks
            # that it holds integers.
            return primary[0][1]
        if self._rowid is None:
            raise self._fail(
                f"table {self._table!r} has no rowid and no INTEGER PRIMARY KEY;"
                " name an integer key column with &key=COLUMN"
            )
        return self._rowid


def _listing(names: Iterable[str]) -> str:
    """Names for an error message, cut short so that it stays one line."""
    names = list(names)
    if not names:
        return "none"
    shown = ", ".join(names[:_LISTED_NAMES])
    more = len(names) - _LISTED_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _rowid_name(
    connection: sqlite3.Connection, quoted_table: str, info: list[_ColumnInfo]
) -> str | None:
    """The name that reaches the hidden rowid, or None (e.g. WITHOUT ROWID)."""
    declared = {row[1].lower() for row in info}
    for alias in _ROWID_ALIASES:
        if alias in declared:
            continue
        try:
            connection.execute(f"SELECT {alias} FROM {quoted_table} LIMIT 0")
        except sqlite3.OperationalError:
            return None
        return alias
    return None
