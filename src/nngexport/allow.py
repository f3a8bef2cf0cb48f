"""Which sources a worker may open: the patterns its operator allowed.

A chunk descriptor names its source by URL (a file path and table for
SQLite, never SQL text), and any peer that can reach a worker could send
one. So a worker opens nothing its operator did not allow when starting it
(``nngexport worker --allow PATTERN``, any number of times). A pattern is a
shell-style glob (``*``, ``?``, ``[...]``; ``*`` also matches ``/``) and a
source is allowed when a pattern matches one of its names:

- a SQLite source: its file's real path (symbolic links and ``..``
  resolved), with or without the ``sqlite://`` prefix: ``/data/*.db`` or
  ``sqlite:///data/orders.db``;
- any source: its URL with and without the query: ``synthetic:*`` or
  ``synthetic:?rows=1000&seed=0``.

A worker with no pattern allows nothing.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from .errors import SourceError, UsageError

__all__ = ["SourceNotAllowedError", "SourcePolicy", "pattern_for"]


class SourceNotAllowedError(SourceError):
    """A descriptor named a source this worker was not allowed to open."""


class SourcePolicy:
    """The ``--allow`` patterns of one worker."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        for pattern in self.patterns:
            if not isinstance(pattern, str) or not pattern.strip():
                raise UsageError(f"--allow pattern must not be empty, got {pattern!r}")

    def allows(self, url: str) -> bool:
        """Whether ``url`` matches one of the patterns."""
        names = _names(url)
        return any(
            fnmatch.fnmatchcase(name, pattern)
            for pattern in self.patterns
            for name in names
        )

    def check(self, url: str, *, worker: str) -> None:
        """Raise :class:`SourceNotAllowedError` unless ``url`` is allowed."""
        if self.allows(url):
            return
        if not self.patterns:
            hint = "it allows no source; start it with --allow PATTERN"
        else:
            shown = ", ".join(repr(p) for p in self.patterns)
            hint = f"its --allow patterns are {shown}"
        raise SourceNotAllowedError(f"worker {worker} refused source {url!r}: {hint}")


def pattern_for(url: str) -> str:
    """A pattern that allows the source ``url`` (a SQLite file, or its scheme).

    For the local workers an export starts: they may open the file being
    exported, or for a generated source any table of that kind.
    """
    names = _names(url)
    if len(names) > 2:
        return names[2]  # the SQLite file's real path
    scheme, sep, _ = url.partition(":")
    return f"{scheme.lower()}:*" if sep else url


def _names(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    bare = url.split("?", 1)[0]
    names = [url, bare]
    if parts.scheme.lower() == "sqlite" and not parts.netloc and parts.path:
        path = os.path.realpath(unquote(parts.path))
        names += [path, f"sqlite://{path}"]
    return names
