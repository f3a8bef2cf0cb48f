"""Small helpers for using pynng safely from Trio.

Cancelling a pending NNG receive can, rarely, hang (nng issue 2208), so no
socket operation here is ever cancelled: each runs in a shielded cancel scope,
and the only way to stop it is to close its socket, which makes it raise
``pynng.Closed``. Every owner of a socket must therefore close it in a
``finally`` block that runs before it waits for the tasks using the socket.
"""

from __future__ import annotations

from typing import Any

import pynng
import trio

#: Exceptions that mean "this socket is closed": the normal end of a loop.
CLOSED = (pynng.Closed,)


async def send(sock: Any, data: bytes) -> None:
    """Send ``data``; returns when a peer has taken it. Ends only by close."""
    with trio.CancelScope(shield=True):
        await sock.asend(data)


async def recv(sock: Any) -> bytes:
    """Receive one message (zero-length is fine). Ends only by close or timeout."""
    with trio.CancelScope(shield=True):
        message = await sock.arecv_msg()
    return bytes(message.bytes)


async def recv_from(sock: Any) -> tuple[bytes, int | None]:
    """Like :func:`recv`, and also the id of the pipe (connection) it came over."""
    with trio.CancelScope(shield=True):
        message = await sock.arecv_msg()
    pipe = message.pipe
    return bytes(message.bytes), None if pipe is None else int(pipe.id)


def close_all(*socks: Any) -> None:
    """Close every socket, ignoring ones already closed."""
    for sock in socks:
        sock.close()
