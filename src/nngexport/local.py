"""Local worker processes: started for an export, and never left behind.

Each worker is ``python -m nngexport worker`` with a pipe on its standard
input. A worker started this way exits when that pipe reaches end-of-file,
which happens when the coordinator closes it on purpose or when the
coordinator dies in any way, SIGKILL included: the kernel closes the pipe.
On the way out, :func:`open_local_workers` closes the pipes, waits a moment
for clean exits, then kills what is left.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio

from .auth import SECRET_FILE_ENV, Sealer
from .errors import UsageError
from .tls import TlsFiles

logger = logging.getLogger(__name__)

#: Seconds to wait for workers to exit by themselves before killing them.
STOP_GRACE = 3.0


def worker_command(
    connect: str,
    *,
    slots: int,
    design: str = "nng",
    prefix: str | None = None,
    allow: Sequence[str],
    tls: TlsFiles | None = None,
) -> list[str]:
    """The command line that starts one local worker.

    ``connect`` is the coordinator's address for ``design="nng"``, and the
    Redis URL for a Redis design (whose keys start with ``prefix``). The
    worker may open the sources ``allow`` matches, and dials with ``tls``.
    """
    command = [sys.executable, "-m", "nngexport", "worker"]
    if design == "nng":
        command += ["--connect", connect]
    else:
        command += ["--design", design, "--redis", connect]
        if prefix is not None:
            command += ["--redis-prefix", prefix]
    for pattern in allow:
        command += ["--allow", pattern]
    if tls is not None:
        command += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        command += ["--tls-ca", str(tls.ca)]
    return [*command, "--slots", str(slots), "--exit-on-stdin-eof"]


@asynccontextmanager
async def open_local_workers(
    connect: str,
    count: int,
    *,
    slots: int = 1,
    design: str = "nng",
    prefix: str | None = None,
    allow: Sequence[str],
    secret: Sealer | None = None,
    tls: TlsFiles | None = None,
) -> AsyncIterator[list[trio.Process]]:
    """Start ``count`` worker processes dialing ``connect``; stop them on exit.

    For a Redis design, ``connect`` is the Redis URL (see :func:`worker_command`).
    The workers may open the sources ``allow`` matches (``--allow``; see
    :mod:`nngexport.allow`), and get ``secret`` through their environment,
    never their command line.

    Yields the processes. Workers that are still running on exit are told to
    stop (their stdin is closed), given :data:`STOP_GRACE` seconds, then
    killed; this happens on errors and cancellation too.
    """
    if count < 0:
        raise UsageError(f"worker count must not be negative, got {count!r}")
    processes: list[trio.Process] = []
    command = worker_command(
        connect, slots=slots, design=design, prefix=prefix, allow=allow, tls=tls
    )
    env = dict(os.environ)
    if secret is not None:
        env.pop(SECRET_FILE_ENV, None)
        env.update(secret.child_environment())
    try:
        for _ in range(count):
            process = await trio.lowlevel.open_process(
                command, stdin=subprocess.PIPE, env=env
            )
            processes.append(process)
        yield processes
    finally:
        with trio.CancelScope(shield=True):
            await _stop(processes)


async def _stop(processes: list[trio.Process]) -> None:
    for process in processes:
        if process.stdin is not None:
            await process.stdin.aclose()
    with trio.move_on_after(STOP_GRACE):
        for process in processes:
            await process.wait()
    for process in processes:
        if process.returncode is None:
            logger.warning("worker pid %s did not stop; killing it", process.pid)
            process.kill()
            await process.wait()
