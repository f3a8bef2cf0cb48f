"""The journal: how far an export got, so that ``--resume`` can continue it.

It lives beside the output at :func:`~nngexport.output.journal_path` and is JSON
lines, appended to and never rewritten::

    {"format": "nngexport-journal", "version": 1, "source": ..., "columns": [...],
     "chunk_rows": 1000, "chunks": 42, "plan_digest": "9f2c..."}
    {"chunks_done": 0, "bytes_done": 27, "sha256": "4e1a..."}
    {"chunks_done": 3, "bytes_done": 81233, "sha256": "c07b..."}

The first line says which export this is: the source, columns and plan, so a
re-planned export can be checked against it (:func:`check_resumable`). Each
later line is a record made after a write to the part file: the CSV header and
the first ``chunks_done`` chunks are in it, ``bytes_done`` bytes in all, whose
SHA-256 is ``sha256``. To resume, the part file is cut back to the last
record's ``bytes_done`` and the export goes on from chunk ``chunks_done``;
anything written after that record is simply rendered again.

Records are handed to the operating system but not fsynced. The journal
protects against the process dying (SIGKILL, Ctrl-C, a failed export), and the
page cache outlives a process; an fsync per record would cost far more than it
buys. After a power loss or kernel crash the journal may run ahead of the part
file: then the part file is too short or its prefix does not hash to the
record's ``sha256``, :meth:`~nngexport.output.AtomicOutput.resume` refuses, and
the export has to start over. Because the part file is written before each
record, a process crash alone never gets the journal ahead.

A process killed mid-record leaves a torn last line with no newline; it is
ignored, and :meth:`Journal.reopen` cuts it off before appending. Anything else
that does not parse is an :class:`~nngexport.errors.OutputError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .errors import OutputError
from .output import journal_path, part_path
from .plan import Chunk

#: The ``format`` field of a journal's first line.
FORMAT: Final = "nngexport-journal"
#: Bumped whenever the journal's fields or meaning change.
VERSION: Final = 1
#: Longest line a reader accepts; a header with thousands of columns fits.
MAX_LINE: Final = 16 * 1024 * 1024

_HEADER_KEYS: Final = frozenset(
    {"format", "version", "source", "columns", "chunk_rows", "chunks", "plan_digest"}
)
_RECORD_KEYS: Final = frozenset({"chunks_done", "bytes_done", "sha256"})
_HEX_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_JOURNAL_SUFFIX: Final = ".nngexport-journal"


@dataclass(frozen=True, slots=True)
class JournalHeader:
    """Which export a journal belongs to.

    Attributes:
        source: The canonical source URL.
        columns: The column names, in output order.
        chunk_rows: The chunk size the export was planned with.
        chunks: How many chunks the plan has.
        plan_digest: :func:`plan_digest` of the columns and chunks.
    """

    source: str
    columns: tuple[str, ...]
    chunk_rows: int
    chunks: int
    plan_digest: str


@dataclass(frozen=True, slots=True)
class JournalProgress:
    """How far an export got: its part file's first ``bytes_done`` bytes are good.

    Attributes:
        chunks_done: Chunks (a prefix of the plan) in those bytes.
        bytes_done: Bytes of the part file, the CSV header included.
        sha256: Hex SHA-256 of those bytes, or ``None`` if not recorded.
    """

    chunks_done: int
    bytes_done: int
    sha256: str | None = None


#: The progress of a journal with no records: nothing written yet.
NOTHING_DONE: Final = JournalProgress(0, 0, hashlib.sha256().hexdigest())


def plan_digest(columns: Sequence[str], chunks: Sequence[Chunk]) -> str:
    """Hex SHA-256 of the columns and every chunk's index, bounds and rows.

    Two plans have the same digest exactly when they would write the same
    columns in the same chunks. Each value is one compact JSON line (JSON
    escapes newlines), so the encoding is unambiguous.
    """
    digest = hashlib.sha256(b"nngexport-plan 1\n")
    digest.update(_json_line(list(columns)))
    for chunk in chunks:
        digest.update(_json_line([chunk.index, chunk.lo, chunk.hi, chunk.rows]))
    return digest.hexdigest()


def check_resumable(
    header: JournalHeader,
    *,
    source: str,
    columns: Sequence[str],
    chunk_rows: int,
    chunks: Sequence[Chunk],
    output: str | os.PathLike[str] | None = None,
) -> None:
    """Raise OutputError unless the export planned now is the journal's export.

    Pass ``output`` so the message can name the files to delete. The check
    sees the plan only: rows changed in place, without moving any chunk
    boundary, go unnoticed.
    """
    if output is None:
        advice = "delete the interrupted export's part file and journal to start over"
    else:
        part, journal = part_path(output), journal_path(output)
        advice = f"delete {str(part)!r} and {str(journal)!r} to start over"
    if source != header.source:
        raise OutputError(
            f"cannot resume: the interrupted export read {header.source!r},"
            f" not {source!r}; {advice}"
        )
    if chunk_rows != header.chunk_rows:
        raise OutputError(
            f"cannot resume: the interrupted export used {header.chunk_rows!r} rows"
            f" per chunk, not {chunk_rows!r}; rerun with that chunk size, or {advice}"
        )
    if tuple(columns) != header.columns:
        raise OutputError(
            f"cannot resume: the interrupted export had columns"
            f" {list(header.columns)!r}, now they are {list(columns)!r}; {advice}"
        )
    if len(chunks) != header.chunks or plan_digest(columns, chunks) != (
        header.plan_digest
    ):
        raise OutputError(
            f"cannot resume: the table changed since the interrupted export"
            f" ({header.chunks} chunks then, {len(chunks)} now); {advice}"
        )


class Journal:
    """An open journal, appending progress records.

    Get one from :meth:`create` for a new export or :meth:`reopen` for a
    resumed one; :meth:`load` only reads. Calls block.

    Attributes:
        path: The journal file.
        header: Which export this is.
        progress: The last record, or :data:`NOTHING_DONE`.
    """

    def __init__(
        self, path: Path, fd: int, header: JournalHeader, progress: JournalProgress
    ) -> None:
        """Wrap an open file; use :meth:`create` or :meth:`reopen` instead."""
        self.path = path
        self.header = header
        self.progress = progress
        self._fd: int | None = fd

    @classmethod
    def create(cls, path: str | os.PathLike[str], header: JournalHeader) -> Journal:
        """Start a new journal at ``path``; it must not exist yet."""
        path = Path(path)
        try:
            fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o666
            )
        except FileExistsError:
            raise OutputError(
                f"an interrupted export left {str(path)!r}; rerun with --resume to"
                f" continue it, or {_start_over(path)}"
            ) from None
        except OSError as exc:
            raise OutputError(
                f"cannot create the journal {str(path)!r}: {exc.strerror or exc}"
            ) from None
        journal = cls(path, fd, header, NOTHING_DONE)
        try:
            journal._append(
                {
                    "format": FORMAT,
                    "version": VERSION,
                    "source": header.source,
                    "columns": list(header.columns),
                    "chunk_rows": header.chunk_rows,
                    "chunks": header.chunks,
                    "plan_digest": header.plan_digest,
                }
            )
        except BaseException:
            journal.remove()
            raise
        return journal

    @classmethod
    def load(
        cls, path: str | os.PathLike[str]
    ) -> tuple[JournalHeader, JournalProgress]:
        """Read a journal: its header and its last complete record."""
        header, progress, _ = _read(Path(path))
        return header, progress

    @classmethod
    def reopen(cls, path: str | os.PathLike[str]) -> Journal:
        """Open an existing journal to append to it, dropping a torn last line.

        Call it only once :meth:`~nngexport.output.AtomicOutput.resume` holds
        the part file: that lock is what keeps two exports out of one journal.
        """
        path = Path(path)
        header, progress, good = _read(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:
                if os.fstat(fd).st_size > good:
                    # A torn record: appending after it would bury it mid-file,
                    # where it is corruption rather than a crash's leftover.
                    os.ftruncate(fd, good)
            except BaseException:
                os.close(fd)
                raise
        except OSError as exc:
            raise OutputError(
                f"cannot reopen the journal {str(path)!r}: {exc.strerror or exc}"
            ) from None
        return cls(path, fd, header, progress)

    def record(
        self, chunks_done: int, bytes_done: int, *, sha256: str | None = None
    ) -> None:
        """Append a record: the part file's first ``bytes_done`` bytes are good.

        ``chunks_done`` chunks and the CSV header are in them, and ``sha256``
        (if given) is their hash, checked again on resume. Neither count may go
        backwards. The record is handed to the operating system, not fsynced.
        """
        _check_count("chunks_done", chunks_done)
        _check_count("bytes_done", bytes_done)
        if chunks_done > self.header.chunks:
            raise ValueError(
                f"chunks_done is {chunks_done!r} but the plan has"
                f" {self.header.chunks} chunks"
            )
        if (
            chunks_done < self.progress.chunks_done
            or bytes_done < self.progress.bytes_done
        ):
            raise ValueError(
                f"progress cannot go backwards: ({chunks_done!r}, {bytes_done!r})"
                f" after ({self.progress.chunks_done}, {self.progress.bytes_done})"
            )
        if sha256 is not None and not _HEX_DIGEST.fullmatch(sha256):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
        self._append(
            {"chunks_done": chunks_done, "bytes_done": bytes_done, "sha256": sha256}
        )
        self.progress = JournalProgress(chunks_done, bytes_done, sha256)

    def close(self) -> None:
        """Stop appending; the journal file stays for a later resume."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def remove(self) -> None:
        """Close and delete the journal, once the export is committed."""
        self.close()
        self.path.unlink(missing_ok=True)

    def _append(self, value: dict[str, Any]) -> None:
        if self._fd is None:
            raise OutputError(f"journal {str(self.path)!r} is already closed")
        data = _json_line(value)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            # Stop here: a later record appended after a partial one would
            # turn a harmless torn last line into corruption mid-file.
            self.close()
            raise OutputError(
                f"writing the journal {str(self.path)!r} failed: {exc.strerror or exc}"
            ) from None


def _read(path: Path) -> tuple[JournalHeader, JournalProgress, int]:
    """Header, last complete record, and the offset just past that record."""
    try:
        file = path.open("rb")
    except OSError as exc:
        raise OutputError(
            f"cannot read the journal {str(path)!r}: {exc.strerror or exc}"
        ) from None
    with file:
        header: JournalHeader | None = None
        progress = NOTHING_DONE
        good = 0
        number = 0
        while True:
            line = file.readline(MAX_LINE + 1)
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    raise _bad(path, number + 1, f"is longer than {MAX_LINE} bytes")
                break  # end of file, perhaps after a torn line: ignore it
            number += 1
            value = _parse(path, number, line)
            if header is None:
                header = _header(path, value)
            else:
                progress = _record(path, number, value, header, progress)
            good += len(line)
    if header is None:
        raise OutputError(
            f"the journal {str(path)!r} has no complete header line, so the"
            f" export it belongs to is unknown; {_start_over(path)}"
        )
    return header, progress, good


def _parse(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad(path, number, f"is not JSON: {line[:80]!r}") from None
    if not isinstance(value, dict):
        raise _bad(path, number, f"is not a JSON object: {line[:80]!r}")
    return value


def _header(path: Path, value: dict[str, Any]) -> JournalHeader:
    if value.get("format") != FORMAT:
        raise OutputError(f"{str(path)!r} is not an nngexport journal")
    version = value.get("version")
    if type(version) is not int or version != VERSION:
        raise OutputError(
            f"the journal {str(path)!r} has format version {version!r}, this"
            f" nngexport reads version {VERSION}; {_start_over(path)}"
        )
    _expect_keys(path, 1, value, _HEADER_KEYS)
    source = value["source"]
    if not isinstance(source, str):
        raise _bad(path, 1, f"has a source that is not a string: {source!r:.80}")
    columns = value["columns"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise _bad(path, 1, f"has columns that are not strings: {columns!r:.80}")
    digest = value["plan_digest"]
    if not isinstance(digest, str) or not _HEX_DIGEST.fullmatch(digest):
        raise _bad(path, 1, f"has a plan_digest that is not a digest: {digest!r:.80}")
    return JournalHeader(
        source=source,
        columns=tuple(columns),
        chunk_rows=_integer(path, 1, value, "chunk_rows", low=1),
        chunks=_integer(path, 1, value, "chunks", low=1),
        plan_digest=digest,
    )


def _record(
    path: Path,
    number: int,
    value: dict[str, Any],
    header: JournalHeader,
    last: JournalProgress,
) -> JournalProgress:
    _expect_keys(path, number, value, _RECORD_KEYS)
    chunks_done = _integer(path, number, value, "chunks_done", low=0)
    bytes_done = _integer(path, number, value, "bytes_done", low=0)
    sha256 = value["sha256"]
    if sha256 is not None and (
        not isinstance(sha256, str) or not _HEX_DIGEST.fullmatch(sha256)
    ):
        raise _bad(path, number, f"has a sha256 that is not a digest: {sha256!r:.80}")
    if chunks_done > header.chunks:
        raise _bad(
            path,
            number,
            f"says {chunks_done} chunks are done, but the plan has {header.chunks}",
        )
    if chunks_done < last.chunks_done or bytes_done < last.bytes_done:
        raise _bad(
            path,
            number,
            f"goes backwards: ({chunks_done}, {bytes_done}) after"
            f" ({last.chunks_done}, {last.bytes_done})",
        )
    return JournalProgress(chunks_done, bytes_done, sha256)


def _expect_keys(
    path: Path, number: int, value: dict[str, Any], keys: frozenset[str]
) -> None:
    if set(value) != keys:
        missing = sorted(keys - set(value))
        extra = sorted(set(value) - keys)
        raise _bad(path, number, f"has fields missing {missing}, extra {extra}")


def _integer(
    path: Path, number: int, value: dict[str, Any], name: str, *, low: int
) -> int:
    field = value[name]
    if isinstance(field, bool) or not isinstance(field, int) or field < low:
        raise _bad(path, number, f"has {name} {field!r:.80}, not an integer >= {low}")
    return field


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def _bad(path: Path, number: int, problem: str) -> OutputError:
    return OutputError(f"the journal {str(path)!r} is damaged: line {number} {problem}")


def _start_over(path: Path) -> str:
    """What to delete to start over, naming the part file if the name allows."""
    name = path.name
    if name.startswith(".") and name.endswith(_JOURNAL_SUFFIX):
        output = path.with_name(name[1 : -len(_JOURNAL_SUFFIX)])
        return f"delete it and {str(part_path(output))!r} to start over"
    return "delete it and the export's part file to start over"


def _json_line(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"
