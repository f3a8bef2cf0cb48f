"""The output file: written under a part name, renamed into place at the end.

A reader never sees a half-written export under the output name: the bytes go
to ``.NAME.nngexport-part`` in the same directory (so the final rename stays on
one file system and is atomic), and only :meth:`AtomicOutput.commit` moves them
into place. :meth:`AtomicOutput.abort` deletes the part file;
:meth:`AtomicOutput.keep` leaves it for :meth:`AtomicOutput.resume`.

The part name is fixed, not random, so that an interrupted export can be found
again. It is created with ``O_EXCL``, so two exports to one output cannot both
write it, and held under an advisory ``flock`` while open, so a resume cannot
start while the export it would continue is still running. The lock goes away
with the process, however it dies.

Every :meth:`AtomicOutput.write` hands its bytes to the operating system before
it returns. A journal record written afterwards (see :mod:`nngexport.journal`)
therefore never claims bytes that a killed process still held in a buffer.

These calls block; Trio code runs them through ``trio.to_thread.run_sync``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError

if sys.platform != "win32":
    import fcntl

#: Bytes read at a time when hashing a part file again on resume.
_READ_BLOCK = 1024 * 1024


def part_path(output: str | os.PathLike[str]) -> Path:
    """Where the export to ``output`` is written until it is complete."""
    output = Path(output)
    return output.with_name(f".{output.name}.nngexport-part")


def journal_path(output: str | os.PathLike[str]) -> Path:
    """Where the progress journal of the export to ``output`` is kept."""
    output = Path(output)
    return output.with_name(f".{output.name}.nngexport-journal")


class AtomicOutput:
    """A file that appears under its name only when complete.

    ``AtomicOutput(path)`` starts a new export and raises
    :class:`~nngexport.errors.OutputError` if an interrupted one left its part
    file behind; :meth:`resume` continues such an export instead.

    Attributes:
        path: The output file.
        temp_path: The part file the bytes go to until :meth:`commit`.
        bytes_written: Bytes in the part file, including any resumed prefix.
    """

    path: Path
    temp_path: Path
    bytes_written: int

    def __init__(self, path: str | os.PathLike[str]) -> None:
        target = check_target(path)
        temp = part_path(target)
        try:
            # 0o666 and not mkstemp's 0o600: the output should get the same
            # permissions as any file the user creates, so let umask decide.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise OutputError(
                f"an interrupted export left {str(temp)!r}; rerun with --resume to"
                f" continue it, or delete it and {str(journal_path(target))!r}"
                " to start over"
            ) from None
        except OSError as exc:
            raise OutputError(
                f"cannot write {str(target)!r}: {exc.strerror or exc}"
            ) from None
        file = os.fdopen(fd, "wb")
        try:
            _lock(file, temp)
        except BaseException:
            # Another process locked the file we just created: it is resuming
            # it, so it is no longer ours to delete.
            file.close()
            raise
        self._start(target, file, hashlib.sha256(), 0)

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike[str],
        length: int,
        *,
        sha256: str | None = None,
    ) -> AtomicOutput:
        """Continue an interrupted export whose first ``length`` bytes are good.

        Opens the part file, checks it holds at least ``length`` bytes (and,
        if ``sha256`` is given, that they hash to it), cuts off anything after
        them (bytes written after the journal's last record) and positions for
        appending. :attr:`sha256` and :attr:`bytes_written` then cover the
        kept prefix, so the final values equal those of an uninterrupted
        export. Raises :class:`~nngexport.errors.OutputError` if the part file
        is missing, shorter than ``length``, does not match ``sha256``, or is
        in use by a running export.
        """
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"length must be a byte count >= 0, got {length!r}")
        target = check_target(path)
        temp = part_path(target)
        journal = journal_path(target)
        try:
            fd = os.open(temp, os.O_RDWR)
        except FileNotFoundError:
            raise OutputError(
                f"cannot resume {str(target)!r}: there is no part file"
                f" {str(temp)!r}; delete {str(journal)!r} to start over"
            ) from None
        except OSError as exc:
            raise OutputError(
                f"cannot resume {str(target)!r}: {exc.strerror or exc}"
            ) from None
        file = os.fdopen(fd, "r+b")
        try:
            _lock(file, temp)
            size = os.fstat(file.fileno()).st_size
            if size < length:
                raise OutputError(
                    f"{str(temp)!r} holds {size} bytes but the journal says {length}"
                    " were written, so it cannot be resumed; delete it and"
                    f" {str(journal)!r} to start over"
                )
            digest = _hash_prefix(file, length, temp)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise OutputError(
                    f"the first {length} bytes of {str(temp)!r} are not the ones"
                    " the journal recorded, so it cannot be resumed; delete it and"
                    f" {str(journal)!r} to start over"
                )
            file.truncate(length)
            file.seek(length)
        except OSError as exc:
            file.close()
            raise OutputError(
                f"cannot resume from {str(temp)!r}: {exc.strerror or exc}"
            ) from None
        except BaseException:
            file.close()
            raise
        output = cls.__new__(cls)
        output._start(target, file, digest, length)
        return output

    def _start(
        self, path: Path, file: BinaryIO, digest: hashlib._Hash, length: int
    ) -> None:
        self.path = path
        self.temp_path = part_path(path)
        self.bytes_written = length
        self._hash = digest
        self._file: BinaryIO | None = file

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data`` to the part file and hand it to the operating system."""
        if self._file is None:
            raise OutputError(f"output {str(self.path)!r} is already closed")
        try:
            self._file.write(data)
            # Flushed on every write so that a journal record made after this
            # call is never ahead of the file if the process is killed.
            self._file.flush()
        except OSError as exc:
            raise OutputError(
                f"writing {str(self.temp_path)!r} failed: {exc.strerror or exc}"
            ) from None
        self._hash.update(data)
        self.bytes_written += len(data)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything in the part file so far."""
        return self._hash.hexdigest()

    def commit(self) -> None:
        """Flush the file to disk and rename it to the output name."""
        if self._file is None:
            raise OutputError(f"output {str(self.path)!r} is already closed")
        file, self._file = self._file, None
        try:
            file.flush()
            os.fsync(file.fileno())
            file.close()
            os.replace(self.temp_path, self.path)
        except OSError as exc:
            file.close()
            self.temp_path.unlink(missing_ok=True)
            raise OutputError(
                f"cannot move the export into {str(self.path)!r}: {exc.strerror or exc}"
            ) from None

    def keep(self) -> None:
        """Close the part file and leave it in place for :meth:`resume`."""
        if self._file is not None:
            file, self._file = self._file, None
            file.close()

    def abort(self) -> None:
        """Close and delete the part file; the output name is untouched."""
        self.keep()
        self.temp_path.unlink(missing_ok=True)


def check_target(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, if an export could be written there; else OutputError."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"output {str(target)!r} is a directory")
    if not target.parent.is_dir():
        raise OutputError(
            f"cannot write {str(target)!r}: no directory {str(target.parent)!r}"
        )
    return target


def _lock(file: BinaryIO, temp: Path) -> None:
    """Take the part file's lock, or raise OutputError if an export holds it."""
    if sys.platform == "win32":
        # TODO: Windows has no flock; use msvcrt.locking if Windows matters,
        # until then only O_EXCL keeps two exports apart there.
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputError(
            f"{str(temp)!r} is in use by an export that is still running;"
            " wait for it or stop it first"
        ) from None


def _hash_prefix(file: BinaryIO, length: int, temp: Path) -> hashlib._Hash:
    """SHA-256 of the first ``length`` bytes of ``file``, read a block at a time."""
    digest = hashlib.sha256()
    file.seek(0)
    remaining = length
    while remaining:
        block = file.read(min(remaining, _READ_BLOCK))
        if not block:
            # Only if something else truncated the file after we checked its
            # size: the lock keeps exports out, not other programs.
            raise OutputError(
                f"{str(temp)!r} shrank to {length - remaining} bytes while it was"
                " being resumed"
            )
        digest.update(block)
        remaining -= len(block)
    return digest
