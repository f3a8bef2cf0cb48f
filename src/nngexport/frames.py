"""What every NNG peer does with a frame at its edge: seal it, or open it.

Shared by the coordinator and the worker: in shared-secret mode a frame
sent gets its HMAC tag and a frame received must carry a valid one; then it
must decode. A frame that fails either is dropped and counted (see
:mod:`nngexport.drops`), never raised.
"""

from __future__ import annotations

import logging

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
