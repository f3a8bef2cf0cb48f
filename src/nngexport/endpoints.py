"""Addresses: where a coordinator listens, and how a worker reaches its pipelines.

A coordinator has three sockets: the survey (the one address workers are told
about), the task pipeline and the result pipeline. Only the survey address is
configured; the other two are derived from it and announced inside every
survey, so a worker needs one ``--connect`` URL:

- ``ipc:///run/x.ipc`` -> ``ipc:///run/x.ipc.tasks`` and ``...results``;
- ``inproc://x`` -> ``inproc://x.tasks`` and ``inproc://x.results``;
- ``tcp://HOST:PORT`` -> two ephemeral ports on the same host. A worker keeps
  the host it dialed and takes only the announced port, because the
  coordinator may have bound ``0.0.0.0`` which means nothing to a dialer.
- ``tls+tcp://HOST:PORT``: the same, over TLS (see :mod:`nngexport.tls`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UsageError

_TCP = re.compile(
    r"^(?P<scheme>tcp|tls\+tcp)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]]*):(?P<port>\d{1,5})$"
)
_FORMS = "ipc:///ABSOLUTE/PATH, tcp://HOST:PORT, tls+tcp://HOST:PORT or inproc://NAME"


@dataclass(frozen=True, slots=True)
class ListenPlan:
    """The three addresses a coordinator binds for one survey URL."""

    survey: str
    tasks: str
    results: str


def check_url(url: str, *, what: str) -> str:
    """Return ``url`` if it is an address NNG can use here, else raise UsageError."""
    if url.startswith("ipc://"):
        if not url.startswith("ipc:///") or len(url) <= len("ipc:///"):
            raise UsageError(f"{what} {url!r}: an ipc:// path must be absolute")
        if len(url.encode()) - len("ipc://") > 100:
            raise UsageError(f"{what} {url!r}: ipc paths are limited to 100 bytes")
        return url
    if url.startswith("inproc://") and len(url) > len("inproc://"):
        return url
    match = _TCP.match(url)
    if match:
        if int(match["port"]) > 65535:
            raise UsageError(f"{what} {url!r}: port out of range")
        return url
    raise UsageError(f"{what} {url!r} is not an address; use {_FORMS}")


def listen_plan(survey: str) -> ListenPlan:
    """The addresses to bind for the survey URL ``survey``."""
    check_url(survey, what="listen address")
    match = _TCP.match(survey)
    if match:
        other = f"{match['scheme']}://{match['host']}:0"
        return ListenPlan(survey, other, other)
    return ListenPlan(survey, survey + ".tasks", survey + ".results")


def host_of(url: str) -> str | None:
    """The host of a tcp:// or tls+tcp:// URL (brackets stripped), else None."""
    match = _TCP.match(url)
    return match["host"].strip("[]") if match else None


def resolve(announced: str, dialed: str) -> str:
    """The URL a worker that dialed ``dialed`` should use for ``announced``."""
    theirs = _TCP.match(announced)
    ours = _TCP.match(dialed)
    if theirs and ours:
        return f"{theirs['scheme']}://{ours['host']}:{theirs['port']}"
    return announced


def bound_url(requested: str, local_address: object) -> str:
    """The URL a listener is really bound to (fills in an ephemeral tcp port)."""
    match = _TCP.match(requested)
    if not match or match["port"] != "0":
        return requested
    # pynng's InAddr.port is in network byte order; its str() is right.
    port = str(local_address).rsplit(":", 1)[1]
    return f"{match['scheme']}://{match['host']}:{port}"
