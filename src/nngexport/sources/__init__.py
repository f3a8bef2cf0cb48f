"""Where rows come from: the :class:`Source` protocol and :func:`open_source`.

A source is named by a URL so that the coordinator can tell a worker process
what to read in a few bytes; the worker calls :func:`open_source` on the very
string the coordinator's source reports as its :attr:`Source.url`. Accepted
forms:

* ``sqlite:///ABSOLUTE/PATH.db?table=NAME[&key=COLUMN][&columns=A,B,C]``
* ``synthetic:?rows=N[&seed=S]``
* ``blocks:?count=N&size=BYTES`` (cheap rows of a fixed size, for benchmarks)

A source object belongs to one thread: workers open one source per thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol
from urllib.parse import parse_qsl

from ..errors import SourceError
from ..plan import Chunk

__all__ = ["ACCEPTED_FORMS", "Source", "open_source"]

#: The URL forms :func:`open_source` understands, for error messages and help.
ACCEPTED_FORMS = (
    "sqlite:///ABSOLUTE/PATH.db?table=NAME[&key=COLUMN][&columns=A,B,C]",
    "synthetic:?rows=N[&seed=S]",
    "blocks:?count=N&size=BYTES",
)


class Source(Protocol):
    """A table that can be planned into chunks and read one chunk at a time."""

    @property
    def url(self) -> str:
        """Canonical URL that :func:`open_source` reopens as this same source."""
        ...

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the cells in each row, in order."""
        ...

    def plan(self, chunk_rows: int) -> list[Chunk]:
        """Split the table into chunks of ``chunk_rows`` rows, in key order.

        Raises:
            SourceError: The table cannot be read.
        """
        ...

    def read(self, chunk: Chunk) -> Iterator[Sequence[object]]:
        """Yield the rows of ``chunk`` in key order, cells matching :attr:`columns`.

        Raises:
            SourceError: The table cannot be read.
        """
        ...

    def close(self) -> None:
        """Release the source's resources; calling it again does nothing."""
        ...


def open_source(url: str) -> Source:
    """Open the source that ``url`` names.

    Raises:
        SourceError: ``url`` is malformed, has an unknown scheme, or names a
            file, table or column that is not there.
    """
    scheme, sep, _ = url.partition(":")
    # Imported here so that the source modules can use this module's helpers
    # without an import cycle.
    if sep and scheme.lower() == "sqlite":
        from .sqlite import open_sqlite_source

        return open_sqlite_source(url)
    if sep and scheme.lower() == "synthetic":
        from .synthetic import open_synthetic_source

        return open_synthetic_source(url)
    if sep and scheme.lower() == "blocks":
        from .blocks import open_blocks_source

        return open_blocks_source(url)
    raise SourceError(
        f"unknown source URL {url!r}: expected {' or '.join(ACCEPTED_FORMS)}"
    )


def _query_params(
    kind: str, url: str, query: str, allowed: Sequence[str]
) -> dict[str, str]:
    """Parse a URL query into a dict, refusing unknown or repeated parameters."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise SourceError(
            f"{kind} source {url!r}: malformed query {query!r}: {exc}"
        ) from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise SourceError(
                f"{kind} source {url!r}: unknown parameter {name!r}"
                f" (accepted: {', '.join(allowed)})"
            )
        if name in params:
            raise SourceError(f"{kind} source {url!r}: parameter {name!r} repeated")
        params[name] = value
    return params
