"""CSV rendering: rows in, UTF-8 bytes out.

Output follows RFC 4180 through the stdlib :mod:`csv` module's ``excel``
dialect: comma separated, fields quoted with ``"`` only when they need it,
CRLF line ends. A chunk's bytes depend only on its rows, so chunks rendered
anywhere concatenate into one well-formed file.

Cells are written as follows:

============================  ==============================================
Python value                  CSV field
============================  ==============================================
``None``                      empty
``bool``                      ``true`` / ``false``
``int``                       decimal digits
``float``                     ``repr`` (shortest round-trip); ``NaN``,
                              ``inf``, ``-inf``
``str``                       as is
``bytes``, ``bytearray``,     lowercase hex
``memoryview``
``datetime.datetime``         ``isoformat(" ")``, e.g. ``2024-05-01 12:30:00``
``datetime.date``             ``isoformat()``, e.g. ``2024-05-01``
anything else                 ``str(value)``
============================  ==============================================

Speed: the csv module already writes ``None``, ``int``, ``str``, finite
floats and dates exactly as above, in C. So a batch of rows is first checked,
with C-level passes, for the few cells that need Python's help (bools, binary,
NaN); batches without them, the usual case for a database table, go straight
to ``csv.writer.writerows``. Only the other batches pay for a per-row pass.
"""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol, runtime_checkable

from .errors import SourceError
from .plan import Chunk
from .sources import Source

__all__ = [
    "PreRendered",
    "RenderedChunk",
    "render_chunk",
    "render_header",
    "render_rows",
]


@dataclass(frozen=True, slots=True)
class RenderedChunk:
    """The CSV bytes of one chunk.

    Attributes:
        index: The chunk's index in the plan.
        rows: Number of rows rendered.
        data: The rows as UTF-8 CSV, each ending in CRLF; no header.
    """

    index: int
    rows: int
    data: bytes


def render_header(columns: Sequence[str]) -> bytes:
    """Render the header line naming ``columns``."""
    return render_rows([columns])[1]


def render_rows(rows: Iterable[Sequence[object]]) -> tuple[int, bytes]:
    """Render ``rows`` as CSV; return the row count and the UTF-8 bytes.

    The rows are held in a list while they are rendered, so pass one chunk's
    worth at a time.

    Raises:
        UnicodeEncodeError: A string holds a lone surrogate, which UTF-8
            cannot encode.
    """
    batch = rows if isinstance(rows, list) else list(rows)
    types = set(map(type, chain.from_iterable(batch)))
    if _CONVERTED_TYPES.isdisjoint(types):
        text = _write(batch)
        # csv writes a NaN float as "nan", so without that text there is no
        # NaN; the exact check only runs when the text has it.
        if float not in types or "nan" not in text or not _has_nan(batch):
            return len(batch), text.encode("utf-8")
    return len(batch), _write(_converted(batch)).encode("utf-8")


@runtime_checkable
class PreRendered(Protocol):
    """A source that can hand over a chunk's CSV without the csv writer."""

    def render(self, chunk: Chunk) -> tuple[int, bytes]:
        """The chunk's row count and exactly the bytes :func:`render_rows` makes."""
        ...


def render_chunk(source: Source, chunk: Chunk) -> RenderedChunk:
    """Read ``chunk`` from ``source`` and render it.

    Raises:
        SourceError: The source cannot be read, or a value cannot be encoded.
    """
    try:
        if isinstance(source, PreRendered):
            count, data = source.render(chunk)
        else:
            count, data = render_rows(source.read(chunk))
    except UnicodeEncodeError as exc:
        raise SourceError(
            f"source {source.url!r}: chunk {chunk.index} holds text that is not"
            f" valid Unicode: {exc}"
        ) from exc
    return RenderedChunk(chunk.index, count, data)


# Types the csv module would write differently from the table in the
# module docstring.
_CONVERTED_TYPES = frozenset({bool, bytes, bytearray, memoryview})


def _write(rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def _has_nan(batch: list[Sequence[object]]) -> bool:
    # NaN is the one value not equal to itself, and this check runs in C. A
    # type with an odd != only sends its batch down the careful path.
    cells = chain.from_iterable(batch)
    return any(map(operator.ne, cells, chain.from_iterable(batch)))


def _nan_or_float(value: float) -> object:
    return "NaN" if value != value else value


def _hex(value: bytes | bytearray | memoryview) -> str:
    return value.hex()


_Converter = Callable[[Any], object]
_CONVERTERS: dict[type, _Converter] = {
    bool: {True: "true", False: "false"}.__getitem__,
    float: _nan_or_float,
    bytes: _hex,
    bytearray: _hex,
    memoryview: _hex,
}


def _converted(batch: list[Sequence[object]]) -> Iterable[Sequence[object]]:
    """Yield the rows of ``batch`` with the cells that need it converted."""
    # Rows of one table mostly share their cell types, so the positions to
    # convert are worked out once per distinct tuple of types.
    plans: dict[tuple[type, ...], tuple[tuple[int, _Converter], ...]] = {}
    for row in batch:
        signature = tuple(map(type, row))
        plan = plans.get(signature)
        if plan is None:
            plan = tuple(
                (position, _CONVERTERS[kind])
                for position, kind in enumerate(signature)
                if kind in _CONVERTERS
            )
            plans[signature] = plan
        if plan:
            cells = list(row)
            for position, convert in plan:
                cells[position] = convert(cells[position])
            yield cells
        else:
            yield row
