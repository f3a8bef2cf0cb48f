"""The output file: written under a temporary name, renamed into place at the end.

A reader never sees a half-written export under the output name: the bytes go
to ``.NAME.XXXX.part`` in the same directory (so the final rename stays on one
file system and is atomic), and only :meth:`AtomicOutput.commit` moves them
into place. :meth:`AtomicOutput.abort` removes the temporary file.

These calls block; Trio code runs them through ``trio.to_thread.run_sync``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError


class AtomicOutput:
    """A file that appears under its name only when complete."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.bytes_written = 0
        self._hash = hashlib.sha256()
        parent = self.path.parent
        if self.path.is_dir():
            raise OutputError(f"output {str(self.path)!r} is a directory")
        if not parent.is_dir():
            raise OutputError(
                f"cannot write {str(self.path)!r}: no directory {str(parent)!r}"
            )
        try:
            fd, temp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".part", dir=parent
            )
        except OSError as exc:
            raise OutputError(
                f"cannot write {str(self.path)!r}: {exc.strerror or exc}"
            ) from None
        self.temp_path = Path(temp)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        """Append ``data`` to the temporary file."""
        if self._file is None:
            raise OutputError(f"output {str(self.path)!r} is already closed")
        try:
            self._file.write(data)
        except OSError as exc:
            raise OutputError(
                f"writing {str(self.temp_path)!r} failed: {exc.strerror or exc}"
            ) from None
        self._hash.update(data)
        self.bytes_written += len(data)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything written so far."""
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

    def abort(self) -> None:
        """Close and delete the temporary file; the output name is untouched."""
        if self._file is not None:
            file, self._file = self._file, None
            file.close()
        self.temp_path.unlink(missing_ok=True)
