"""What every NNG peer does with a frame at its edge: seal it, or open it.

Shared by the coordinator and the worker: in shared-secret mode a frame
sent gets its HMAC tag and a frame received must carry a valid one; then it
must decode. A frame that fails either is dropped and counted (see
:mod:`nngexport.drops`), never raised.
"""

from __future__ import annotations

import logging
from typing import Any

import pynng

from . import _nng
from .auth import Sealer, UnauthenticatedError
from .drops import Drops
from .errors import ProtocolError
from .wire import Message, decode

__all__ = ["FrameGate"]


class FrameGate:
    """Seals outgoing frames and opens incoming ones, counting what it drops."""

    def __init__(self, sealer: Sealer | None, logger: logging.Logger) -> None:
        self._sealer = sealer
        self.drops = Drops(logger)

    def seal(self, frame: bytes) -> bytes:
        """``frame`` as it goes on the wire."""
        return frame if self._sealer is None else self._sealer.seal(frame)

    def open(self, frame: bytes, sender: object) -> Message | None:
        """The message in ``frame`` from ``sender``, or None if it was dropped."""
        try:
            body = frame if self._sealer is None else self._sealer.open(frame)
            return decode(body)
        except UnauthenticatedError as exc:
            self.drops.drop("unauthenticated", sender, exc)
        except ProtocolError as exc:
            self.drops.drop("malformed", sender, exc)
        return None

    def stray(self, sender: object, what: str) -> None:
        """Count (and log) a valid message from ``sender`` that nobody wants."""
        self.drops.drop("stray", sender, what)

    async def receive(self, sock: Any) -> tuple[Message, _nng.Peer] | None:
        """The next usable message on ``sock`` and its sender; None once closed.

        Receive timeouts (see :mod:`nngexport._nng`) are waited out, and
        frames that do not open are dropped, so a loop over this sees only
        messages.
        """
        while True:
            try:
                frame, _, peer = await _nng.recv_from(sock)
            except pynng.Timeout:
                continue
            except _nng.CLOSED:
                return None
            message = self.open(frame, peer)
            if message is not None:
                return message, peer
