"""Shared-secret mode: every frame carries an HMAC-SHA256 tag of its bytes.

For networks where TLS is not wanted: the coordinator and its workers share
a key (read from the environment or a file, never from the command line),
every frame sent gets a tag over its bytes, and every frame received whose
tag is missing or wrong is dropped and counted. A peer without the key can
therefore not pose as a worker, renew a lease or deliver a result. It can
still read everything (nothing is encrypted) and, as any peer that connects,
take descriptors it will never answer (they are re-issued after the
acknowledgement timeout): see ``docs/security.md``.

A sealed frame is ``frame + tag`` (32 bytes).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Final

from .errors import ProtocolError, UsageError

__all__ = [
    "MIN_KEY_BYTES",
    "SECRET_ENV",
    "SECRET_FILE_ENV",
    "TAG_BYTES",
    "Sealer",
    "UnauthenticatedError",
    "load_secret",
]

#: Environment variable holding the key itself.
SECRET_ENV: Final = "NNGEXPORT_SECRET"
#: Environment variable naming a file that holds the key.
SECRET_FILE_ENV: Final = "NNGEXPORT_SECRET_FILE"
#: Shortest key accepted, in bytes.
MIN_KEY_BYTES: Final = 16
#: Bytes of the tag at the end of every sealed frame.
TAG_BYTES: Final = 32


class UnauthenticatedError(ProtocolError):
    """A frame's HMAC tag is missing or wrong."""


class Sealer:
    """Seals frames with a key, and opens sealed frames, checking their tag."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise UsageError(
                f"the shared secret is {len(key)} bytes; use at least"
                f" {MIN_KEY_BYTES} (for example: openssl rand -hex 32)"
            )
        self._key = key

    def child_environment(self) -> dict[str, str]:
        """Environment variables that give a child process this same key."""
        try:
            text = self._key.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(
                "the shared secret must be text to hand to local workers"
            ) from None
        return {SECRET_ENV: text}

    def seal(self, frame: bytes) -> bytes:
        """``frame`` with its tag appended."""
        return frame + hmac.digest(self._key, frame, hashlib.sha256)

    def open(self, sealed: bytes | bytearray | memoryview) -> memoryview:
        """The frame inside ``sealed``, or raise :class:`UnauthenticatedError`."""
        view = memoryview(sealed)
        if len(view) < TAG_BYTES:
            raise UnauthenticatedError(
                f"frame of {len(view)} bytes is too short to carry an HMAC tag"
            )
        frame, tag = view[:-TAG_BYTES], view[-TAG_BYTES:]
        if not hmac.compare_digest(hmac.digest(self._key, frame, hashlib.sha256), tag):
            raise UnauthenticatedError("HMAC tag does not match (wrong or no key)")
        return frame


def load_secret(path: str | None = None) -> Sealer | None:
    """The sealer for the shared secret, if one is configured.

    ``path`` (``--secret-file``) wins; else the file named by
    ``NNGEXPORT_SECRET_FILE``; else the key in ``NNGEXPORT_SECRET``; else
    ``None`` (no shared-secret mode). Surrounding whitespace is stripped.

    Raises:
        UsageError: The file cannot be read, or the key is too short.
    """
    path = path or os.environ.get(SECRET_FILE_ENV) or None
    if path is not None:
        try:
            key = Path(path).read_bytes().strip()
        except OSError as exc:
            raise UsageError(
                f"cannot read the shared secret from {path!r}: {exc.strerror or exc}"
            ) from None
        return Sealer(key)
    text = os.environ.get(SECRET_ENV)
    if text is None:
        return None
    return Sealer(text.strip().encode())
