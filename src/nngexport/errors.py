"""The exceptions nngexport raises.

Every error the library raises on purpose is an :class:`ExportError`. The CLI
prints ``str(error)`` as one line and exits non-zero, so each message states
what was wrong, shows the offending value, and where it helps, what to do.
"""

from __future__ import annotations


class ExportError(Exception):
    """Base class of every error nngexport raises on purpose."""


class UsageError(ExportError):
    """An argument or option has a value that cannot work (CLI exit status 2)."""


class SourceError(ExportError):
    """A source URL is malformed, or names a file, table or column that is not there.

    Also raised when reading a source fails while rendering a chunk.
    """


class OutputError(ExportError):
    """The output file cannot be created, written or renamed into place."""


class NoWorkersError(ExportError):
    """Too few workers answered the coordinator's survey in time."""


class ChunkFailedError(ExportError):
    """A worker reported that it could not render a chunk."""


class ProtocolError(ExportError):
    """A message on the wire is malformed, of an unknown version, or out of place.

    Decoders raise this for any bytes they do not understand; it never means
    the receiving process is in a bad state, only that the message is dropped.
    """
