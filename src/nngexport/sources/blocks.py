"""Pre-rendered blocks: a source whose rows cost almost nothing to render.

URL form: ``blocks:?count=N&size=BYTES``. The table has ``N`` rows keyed
``0 .. N-1``; row ``k`` is ``(k, payload)``, where ``payload`` is one fixed
run of ASCII letters, built once per process, that makes the row's CSV line
exactly ``BYTES`` bytes long (CRLF included). Nothing in it needs quoting.

The csv module writes a long field at well under 100 MB/s, so the source
also offers its chunks pre-rendered (:meth:`BlocksSource.render`, the very
bytes the csv writer would make, built from one cached line per key length):
with it a benchmark measures the transport, not the CSV writer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache
from urllib.parse import urlsplit

from ..errors import SourceError
from ..plan import Chunk, plan_dense
from . import _query_params

__all__ = ["BLOCKS_COLUMNS", "BlocksSource", "open_blocks_source"]

#: Column names of every blocks table.
BLOCKS_COLUMNS = ("block", "payload")

_FORM = "blocks:?count=N&size=BYTES"
_PARAMS = ("count", "size")
_DIGITS = re.compile(r"[0-9]+")
#: The largest row a blocks source makes: 64 MiB.
MAX_BLOCK = 64 * 2**20
#: Room for the key, the comma and the CRLF of the longest key.
_OVERHEAD = 24
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@cache
def _payload(length: int) -> str:
    repeats = length // len(_ALPHABET) + 1
    return (_ALPHABET * repeats)[:length]


@cache
def _tail(length: int) -> bytes:
    """The comma, the payload and the CRLF: the line after a key."""
    return b"," + _payload(length - 3).encode("ascii") + b"\r\n"


class BlocksSource:
    """``count`` rows whose CSV lines are each ``size`` bytes long."""

    def __init__(self, *, count: int, size: int) -> None:
        if count < 0:
            raise ValueError(f"count must not be negative, got {count!r}")
        if not _OVERHEAD <= size <= MAX_BLOCK:
            raise ValueError(f"size must be in {_OVERHEAD} .. {MAX_BLOCK}, got {size}")
        self._count = count
        self._size = size

    @property
    def url(self) -> str:
        """Canonical URL, with every parameter spelled out."""
        return f"blocks:?count={self._count}&size={self._size}"

    @property
    def columns(self) -> tuple[str, ...]:
        """:data:`BLOCKS_COLUMNS`."""
        return BLOCKS_COLUMNS

    def plan(self, chunk_rows: int) -> list[Chunk]:
        """Plan chunks of ``chunk_rows`` consecutive blocks."""
        return plan_dense(self._count, chunk_rows)

    def read(self, chunk: Chunk) -> Iterator[Sequence[object]]:
        """Yield the blocks whose number lies in the chunk's range."""
        start = 0 if chunk.lo is None else max(chunk.lo, 0)
        stop = self._count if chunk.hi is None else min(chunk.hi, self._count)
        for k in range(start, stop):
            # key + "," + payload + CRLF == size bytes.
            yield (k, _payload(self._size - len(str(k)) - 3))

    def render(self, chunk: Chunk) -> tuple[int, bytes]:
        """The chunk's CSV, the same bytes as rendering :meth:`read`'s rows."""
        start = 0 if chunk.lo is None else max(chunk.lo, 0)
        stop = self._count if chunk.hi is None else min(chunk.hi, self._count)
        if stop <= start:
            return 0, b""
        parts = []
        for k in range(start, stop):
            key = str(k)
            parts.append(key.encode("ascii"))
            parts.append(_tail(self._size - len(key)))
        return stop - start, b"".join(parts)

    def close(self) -> None:
        """Do nothing: a blocks source holds no resources."""


def open_blocks_source(url: str) -> BlocksSource:
    """Open a ``blocks:`` source URL.

    Raises:
        SourceError: The URL is malformed, lacks ``count`` or ``size``, or has
            a parameter that is unknown or out of range.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SourceError(
            f"blocks source {url!r}: malformed URL ({exc}); expected {_FORM}"
        ) from None
    if parts.scheme.lower() != "blocks" or parts.netloc or parts.path or parts.fragment:
        raise SourceError(f"blocks source {url!r}: expected {_FORM}")
    params = _query_params("blocks", url, parts.query, _PARAMS)
    for name in _PARAMS:
        if name not in params:
            raise SourceError(
                f"blocks source {url!r}: missing parameter {name!r}; expected {_FORM}"
            )
        if not _DIGITS.fullmatch(params[name]):
            raise SourceError(
                f"blocks source {url!r}: {name} must be a non-negative integer,"
                f" got {params[name]!r}"
            )
    size = int(params["size"])
    if not _OVERHEAD <= size <= MAX_BLOCK:
        raise SourceError(
            f"blocks source {url!r}: size must be {_OVERHEAD} to {MAX_BLOCK} bytes,"
            f" got {size}"
        )
    return BlocksSource(count=int(params["count"]), size=size)
