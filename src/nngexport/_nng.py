"""Small helpers for using pynng safely from Trio.

Two NNG 1.11 bugs shape this. Cancelling a pending receive can, rarely, hang
(nng issue 2208), so no socket operation here is ever cancelled once it has
started: each runs in a shielded cancel scope. And closing a socket while an
operation on it is pending can, rarely, crash the process (nng issue 2238;
seen here once in a 200-trial soak, in NNG's timeout thread).
So every socket that a loop waits on gets a receive or send timeout (or, for
a surveyor, its survey time), every operation ends by itself within it, and
each helper here checks for cancellation before it starts. A loop in a
cancelled scope therefore stops within one timeout, and its owner closes the
socket after the loop has stopped, never before.
"""

from __future__ import annotations

from typing import Any

import pynng
import trio

#: Exceptions that mean "this socket is closed": the normal end of a loop.
CLOSED = (pynng.Closed,)


async def send(sock: Any, data: bytes) -> None:
    """Send ``data``; returns when a peer has taken it, or raises on timeout."""
    await trio.lowlevel.checkpoint_if_cancelled()
    with trio.CancelScope(shield=True):
        await sock.asend(data)


async def recv(sock: Any) -> bytes:
    """Receive one message (zero-length is fine), or raise on timeout or close."""
    await trio.lowlevel.checkpoint_if_cancelled()
    with trio.CancelScope(shield=True):
        message = await sock.arecv_msg()
    return bytes(message.bytes)


async def recv_from(sock: Any) -> tuple[bytes, int | None, Peer]:
    """Like :func:`recv`, with the id of the pipe it came over and its peer."""
    await trio.lowlevel.checkpoint_if_cancelled()
    with trio.CancelScope(shield=True):
        message = await sock.arecv_msg()
    pipe = message.pipe
    return (
        bytes(message.bytes),
        None if pipe is None else int(pipe.id),
        Peer(pipe),
    )


class Peer:
    """Who sent a message, named for logs only when asked (the address costs)."""

    __slots__ = ("_id", "_pipe")

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe
        self._id = None if pipe is None else int(pipe.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Peer) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    def __str__(self) -> str:
        if self._pipe is None:
            return "an unknown peer"
        try:
            address = str(self._pipe.remote_address)
        except Exception:  # NNGException: this transport has no address
            address = ""
        name = f"pipe {int(self._pipe.id)}"
        return f"{name} from {address}" if address else name


def close_all(*socks: Any) -> None:
    """Close every socket, ignoring ones already closed."""
    for sock in socks:
        sock.close()
