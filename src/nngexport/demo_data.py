"""A realistic demo database: an ``orders`` table in a SQLite file.

The data is a pure function of ``(rows, seed)``: ids are increasing with
deterministic gaps (so keyset chunking is exercised for real), and the text
columns include what makes CSV hard: commas, quotes, line breaks of both
kinds, non-ASCII text and NULLs.

Building writes a temporary file next to the target and renames it into
place, so the target is either absent or complete, whatever interrupts the
build.
"""

from __future__ import annotations

import datetime
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

__all__ = [
    "SCHEMA_VERSION",
    "build_demo_database",
    "demo_database_path",
    "ensure_demo_database",
]

#: Bumped whenever the table or its contents change, so that cached files
#: built by an older version are not reused.
SCHEMA_VERSION = 1

_BATCH_ROWS = 50_000
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15

_SCHEMA = """
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer TEXT NOT NULL,
    email TEXT NOT NULL,
    country TEXT NOT NULL,
    amount REAL NOT NULL,
    quantity INTEGER,
    created_at TEXT NOT NULL,
    paid INTEGER NOT NULL,
    note TEXT
)
"""
_INSERT = "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

_FIRST = (
    "Amara",
    "Björn",
    "Chloé",
    "Diego",
    "Elif",
    "Fatima",
    "Giulia",
    "Hiroshi",
    "Ingrid",
    "José",
    "Kwame",
    "Léa",
    "Mateus",
    "Nguyen",
    "Oksana",
    "Pedro",
)
_LAST = (
    "Andersson",
    "Bianchi",
    "Chen",
    "Dubois",
    "Eze",
    "Fernández",
    "Gruber",
    "Horvat",
    "Ivanova",
    "Jensen",
    "Kowalczyk",
    "Larsen",
    "Moreau",
    "Nakamura",
    "O'Connor",
    "Papadopoulos",
)
_DOMAINS = ("example.com", "example.org", "mail.example.net", "example.co.jp")
_COUNTRIES = (
    "Austria",
    "Brazil",
    "Canada",
    "Côte d'Ivoire",
    "Denmark",
    "France",
    "Germany",
    "India",
    "Japan",
    "México",
    "Nigeria",
    "Norway",
    "Poland",
    "Switzerland",
    "Türkiye",
    "United States",
)
# None for NULL; the rest exercise CSV quoting and UTF-8.
_NOTES = (
    None,
    None,
    None,
    None,
    "",
    "leave at reception",
    "deliver to the back door, not the front",
    'customer asked for "express" shipping',
    "two parcels\nsecond one follows",
    "invoice address differs\r\nsee account",
    "Lieferung nach Zürich, bitte anrufen",
    "東京支店宛て",
    "gift 🎁 — no receipt",
    'size 10", colour: grey',
    "café au lait, two sugars",
    "call first; dog on premises",
)
_CUSTOMERS = tuple(f"{first} {last}" for first in _FIRST for last in _LAST)
_EMAIL_STEMS = tuple(name.replace(" ", ".").lower() for name in _CUSTOMERS)
_EPOCH = datetime.date(2021, 1, 1)
_MINUTES = tuple(f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(1440))
_SECONDS = tuple(f":{second:02d}" for second in range(60))


def build_demo_database(path: Path, rows: int, *, seed: int = 0) -> None:
    """Write an ``orders`` table of exactly ``rows`` rows to a SQLite file.

    An existing file at ``path`` is replaced. The build goes to a temporary
    file in the same directory, renamed over ``path`` only once complete.

    Raises:
        ValueError: ``rows`` is negative or ``seed`` is outside 0 .. 2**64 - 1.
        OSError: The directory is missing or not writable.
    """
    _check(rows, seed)
    fd, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    os.close(fd)
    try:
        connection = sqlite3.connect(temp_name)
        try:
            # No journal and no syncing: a failed build is thrown away, never
            # recovered, so SQLite's crash safety would only cost time.
            connection.execute("PRAGMA journal_mode = OFF")
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute(_SCHEMA)
            generated = _orders(rows, seed)
            with connection:
                while batch := list(islice(generated, _BATCH_ROWS)):
                    connection.executemany(_INSERT, batch)
        finally:
            connection.close()
        # Data on disk before the rename, so a crash cannot leave a complete
        # name on an incomplete file.
        with open(temp_name, "rb+") as file:
            os.fsync(file.fileno())
        # mkstemp makes the file private (0600); a cache of generated demo
        # data has nothing to hide, and other users' exports may read it.
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def demo_database_path(rows: int, seed: int = 0) -> Path:
    """The cache path of the demo database for ``rows`` and ``seed``.

    The directory is ``$NNGEXPORT_CACHE`` if set, else
    ``$XDG_CACHE_HOME/nngexport``, else ``~/.cache/nngexport``.
    """
    _check(rows, seed)
    name = f"orders-v{SCHEMA_VERSION}-rows{rows}-seed{seed}.sqlite3"
    return _cache_directory() / name


def ensure_demo_database(rows: int, seed: int = 0) -> Path:
    """Return the cached demo database for ``rows`` and ``seed``.

    It is built (see :func:`build_demo_database`) only if it is not there yet.
    """
    path = demo_database_path(rows, seed)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        build_demo_database(path, rows, seed=seed)
    return path


def _cache_directory() -> Path:
    explicit = os.environ.get("NNGEXPORT_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "nngexport"
    return Path.home() / ".cache" / "nngexport"


def _check(rows: int, seed: int) -> None:
    if rows < 0:
        raise ValueError(f"rows must not be negative, got {rows!r}")
    if not 0 <= seed <= _MASK:
        raise ValueError(f"seed must be in 0 .. 2**64 - 1, got {seed!r}")


def _orders(rows: int, seed: int) -> Iterator[tuple[object, ...]]:
    """Yield ``rows`` order rows in id order."""
    # This loop is most of the build time, so the hash is inlined and every
    # string is assembled from precomputed pieces.
    state = _mix((seed * _GOLDEN) & _MASK)
    day_texts: dict[int, str] = {}
    candidate = 0
    made = 0
    while made < rows:
        candidate += 1
        h = (state + candidate * _GOLDEN) & _MASK
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
        h ^= h >> 31
        # About one id in sixteen is skipped (a deleted order), and about one
        # in two thousand starts a run of up to a thousand missing ids.
        if h & 15 == 0:
            continue
        if (h >> 4) & 2047 == 0:
            candidate += (h >> 15) & 1023
            continue
        made += 1
        # A second hash, so that no two fields share bits.
        g = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        g = ((g ^ (g >> 27)) * 0x94D049BB133111EB) & _MASK
        g ^= g >> 31
        day, second = divmod(candidate * 31 + (g & 4095), 86_400)
        day_text = day_texts.get(day)
        if day_text is None:
            day_text = (_EPOCH + datetime.timedelta(days=day)).isoformat()
            day_texts[day] = day_text
        minute, second = divmod(second, 60)
        person = (h >> 15) & 255
        yield (
            candidate,
            _CUSTOMERS[person],
            f"{_EMAIL_STEMS[person]}{(h >> 23) & 255}@{_DOMAINS[(h >> 31) & 3]}",
            _COUNTRIES[(h >> 33) & 15],
            ((h >> 37) & 0x3FFFF) / 100,
            (g >> 12) & 31 if (g >> 17) & 7 else None,
            f"{day_text} {_MINUTES[minute]}{_SECONDS[second]}",
            (g >> 20) & 1,
            _NOTES[(g >> 21) & 15],
        )


def _mix(z: int) -> int:
    """The splitmix64 finaliser: a bijection on 64-bit ints that spreads bits."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)
