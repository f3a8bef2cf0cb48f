"""A generated table of mixed types, for demos, tests and benchmarks.

URL form: ``synthetic:?rows=N[&seed=S]``. The key is the row number
``0 .. N-1``, and row ``k`` is a pure function of ``(seed, k)``: any chunk can
be generated on its own, in any process, and comes out the same.

For fault-injection tests, ``&fail_at=K`` makes reading the chunk that holds
row ``K`` raise :class:`~nngexport.errors.SourceError`, every time; add
``&fail_once=/ABS/PATH`` to fail only the first time (the first reader creates
that marker file; later readers see it and succeed). ``&crash_at=K`` makes
the process that reads the chunk holding row ``K`` exit at once, with status
:data:`CRASH_STATUS`, as a worker that dies on a poisonous chunk would; do
not use it in-process.

Speed matters here (the generator must not be the bottleneck of an export
benchmark), so a row costs one splitmix64 hash of ``(seed, k)``; each field is
cut from its bits and picks from fixed tables built once at import.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterator, Sequence
from functools import partial
from urllib.parse import quote, urlsplit

from ..errors import SourceError
from ..plan import Chunk, plan_dense
from . import _query_params

__all__ = [
    "SYNTHETIC_COLUMNS",
    "SyntheticSource",
    "open_synthetic_source",
    "synthetic_row",
]

#: Column names of every synthetic table, matching :func:`synthetic_row`.
SYNTHETIC_COLUMNS = (
    "id",
    "name",
    "city",
    "amount",
    "quantity",
    "created_at",
    "active",
    "note",
)

_FORM = "synthetic:?rows=N[&seed=S]"
_PARAMS = ("rows", "seed", "fail_at", "fail_once", "crash_at")
#: Exit status of a process killed by ``crash_at``.
CRASH_STATUS = 70
_DIGITS = re.compile(r"[0-9]+")
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "Ada Alan Anna Bjarne Carla Chen Dmitri Edsger Emma Farah Grace Hana Ivan"
    " Jalen Kenji Lena Linus Maria Mei Nadia Noor Olga Omar Priya Quinn Rosa"
    " Sanjay Sofia Tariq Ugo Yuki Zoë"
)
_LAST = _words(
    "Abe Baker Costa Dubois Eriksen Fischer García Gupta Hansen Ito Jones Kim"
    " Kowalski López Müller Nakamura Novak O'Brien Okafor Petrov Quispe Rossi"
    " Santos Schmidt Silva Smith Tanaka Virtanen Wang Weber Yilmaz Zhang"
)
_NAMES = tuple(f"{first} {last}" for first in _FIRST for last in _LAST)
# In the word list "_" stands for the space in a two-word name.
_CITIES = tuple(
    city.replace("_", " ")
    for city in _words(
        "Amsterdam Berlin Bogotá Cairo Chicago Dublin Helsinki Istanbul Kraków"
        " Lagos Lima Lisbon London Madrid Montréal Mumbai Nairobi Oslo Paris Prague"
        " Reykjavík Rome Santiago São_Paulo Seoul Sydney Tokyo Toronto Vienna"
        " Warsaw Zürich 東京"
    )
)

# Fragments chosen to exercise CSV quoting: separators, quotes, both line
# endings, and text well outside ASCII.
_FRAGMENTS = (
    "left at the door",
    "call before delivery, please",
    'customer said "urgent"',
    "second floor\nring twice",
    "invoice to HQ\r\nattn: accounts",
    "gift wrap; no prices",
    "Zürich office",
    "東京の倉庫から発送",
    "thanks! 🎉",
    "fragile 📦 handle with care",
    'size "XL", colour "navy"',
    "Ünïcödé ñame",
    "deliver after 18:00",
    "   leading spaces",
    "trailing comma,",
    "a 'single' quote",
)
_EPOCH = datetime.datetime(2020, 1, 1)
# created_at advances with the key (like real orders) and wraps after ten
# years, so that any row count stays within datetime's range.
_SPAN_SECONDS = 10 * 365 * 24 * 3600


def _mix(z: int) -> int:
    """The splitmix64 finaliser: a bijection on 64-bit ints that spreads bits."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _build_notes() -> tuple[str | None, ...]:
    notes: list[str | None] = []
    for index in range(256):
        z = _mix(index + 1)
        if index % 8 == 0:
            notes.append(None)
        elif index % 32 == 1:
            notes.append("")
        else:
            count = 1 + (z & 7)
            picks = (_FRAGMENTS[(z >> (4 + 4 * i)) & 15] for i in range(count))
            notes.append(", ".join(picks))
    return tuple(notes)


_NOTES = _build_notes()


def _seed_state(seed: int) -> int:
    return _mix((seed * _GOLDEN) & _MASK)


def _row(state: int, k: int) -> tuple[object, ...]:
    # _mix inlined: a call per row costs about a tenth of the generation time.
    z = (state + (k + 1) * _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    seconds = (k * 37 + (z >> 54)) % _SPAN_SECONDS
    return (
        k,
        _NAMES[z & 1023],
        _CITIES[(z >> 10) & 31],
        ((z >> 15) & 0xFFFFF) / 100,
        (z >> 35) & 63 if (z >> 41) & 15 else None,
        _EPOCH + datetime.timedelta(seconds=seconds),
        bool((z >> 45) & 1),
        _NOTES[(z >> 46) & 255],
    )


def synthetic_row(seed: int, k: int) -> tuple[object, ...]:
    """Row ``k`` of the synthetic table with ``seed``, cells as in the columns.

    The cells are: ``id`` (int, equal to ``k``), ``name`` and ``city`` (str),
    ``amount`` (float), ``quantity`` (int or None), ``created_at`` (naive UTC
    datetime, whole seconds), ``active`` (bool) and ``note`` (str, possibly
    empty or with commas, quotes, newlines and non-ASCII text, or None).
    """
    return _row(_seed_state(seed), k)


class SyntheticSource:
    """``rows`` generated rows; see :func:`synthetic_row` for their contents."""

    def __init__(
        self,
        *,
        rows: int,
        seed: int = 0,
        fail_at: int | None = None,
        fail_once: str | None = None,
        crash_at: int | None = None,
    ) -> None:
        if rows < 0:
            raise ValueError(f"rows must not be negative, got {rows!r}")
        if not 0 <= seed <= _MASK:
            raise ValueError(f"seed must be in 0 .. 2**64 - 1, got {seed!r}")
        if fail_once is not None and not os.path.isabs(fail_once):
            raise ValueError(f"fail_once must be an absolute path, got {fail_once!r}")
        self._rows = rows
        self._seed = seed
        self._state = _seed_state(seed)
        self._fail_at = fail_at
        self._fail_once = fail_once
        self._crash_at = crash_at

    @property
    def url(self) -> str:
        """Canonical URL, with every parameter spelled out."""
        url = f"synthetic:?rows={self._rows}&seed={self._seed}"
        if self._fail_at is not None:
            url += f"&fail_at={self._fail_at}"
        if self._fail_once is not None:
            url += f"&fail_once={quote(self._fail_once, safe='/')}"
        if self._crash_at is not None:
            url += f"&crash_at={self._crash_at}"
        return url

    @property
    def columns(self) -> tuple[str, ...]:
        """:data:`SYNTHETIC_COLUMNS`."""
        return SYNTHETIC_COLUMNS

    def plan(self, chunk_rows: int) -> list[Chunk]:
        """Plan chunks of ``chunk_rows`` consecutive row numbers."""
        return plan_dense(self._rows, chunk_rows)

    def read(self, chunk: Chunk) -> Iterator[Sequence[object]]:
        """Generate the rows whose number lies in the chunk's range."""
        start = 0 if chunk.lo is None else max(chunk.lo, 0)
        stop = self._rows if chunk.hi is None else min(chunk.hi, self._rows)
        if self._fail_at is not None and start <= self._fail_at < stop:
            self._inject_failure(chunk)
        if self._crash_at is not None and start <= self._crash_at < stop:
            os._exit(CRASH_STATUS)
        return map(partial(_row, self._state), range(start, stop))

    def _inject_failure(self, chunk: Chunk) -> None:
        if self._fail_once is not None:
            try:
                os.close(os.open(self._fail_once, os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                return  # failed once already
        raise SourceError(
            f"synthetic source {self.url!r}: injected failure in chunk"
            f" {chunk.index} (row {self._fail_at})"
        )

    def close(self) -> None:
        """Do nothing: a synthetic source holds no resources."""


def open_synthetic_source(url: str) -> SyntheticSource:
    """Open a ``synthetic:`` source URL.

    Raises:
        SourceError: The URL is malformed, lacks ``rows``, or has a parameter
            that is unknown or not a non-negative integer in range.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SourceError(
            f"synthetic source {url!r}: malformed URL ({exc}); expected {_FORM}"
        ) from None
    if parts.scheme.lower() != "synthetic" or parts.netloc or parts.path:
        raise SourceError(f"synthetic source {url!r}: expected {_FORM}")
    if parts.fragment:
        raise SourceError(
            f"synthetic source {url!r}: unexpected fragment {parts.fragment!r};"
            f" expected {_FORM}"
        )
    params = _query_params("synthetic", url, parts.query, _PARAMS)
    if "rows" not in params:
        raise SourceError(
            f"synthetic source {url!r}: missing parameter 'rows'; expected {_FORM}"
        )
    rows = _natural(url, "rows", params["rows"])
    seed = _natural(url, "seed", params.get("seed", "0"))
    if seed > _MASK:
        raise SourceError(f"synthetic source {url!r}: seed {seed!r} is not below 2**64")
    fail_at = (
        _natural(url, "fail_at", params["fail_at"]) if "fail_at" in params else None
    )
    fail_once = params.get("fail_once")
    if fail_once is not None and not os.path.isabs(fail_once):
        raise SourceError(
            f"synthetic source {url!r}: fail_once must be an absolute path,"
            f" got {fail_once!r}"
        )
    crash_at = (
        _natural(url, "crash_at", params["crash_at"]) if "crash_at" in params else None
    )
    return SyntheticSource(
        rows=rows, seed=seed, fail_at=fail_at, fail_once=fail_once, crash_at=crash_at
    )


def _natural(url: str, name: str, text: str) -> int:
    # Stricter than int(): no sign, spaces or underscores, so that a URL has
    # one spelling per value.
    if not _DIGITS.fullmatch(text):
        raise SourceError(
            f"synthetic source {url!r}: {name} must be a non-negative integer,"
            f" got {text!r}"
        )
    return int(text)
