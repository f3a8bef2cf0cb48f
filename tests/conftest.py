from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from .redis_server import RedisServer, redis_binary

#: The command that runs this checkout's nngexport in a new process.
NNGEXPORT = [sys.executable, "-m", "nngexport"]

#: Text that CSV must quote or that tests encodings, for hand-made tables.
AWKWARD_TEXT = [
    "plain",
    "",
    "comma, inside",
    'say "hi"',
    "line\nbreak",
    "crlf\r\nbreak",
    "lone\rcarriage",
    "Zürich",
    "東京",
    "emoji 🎉",
    " leading and trailing ",
    '"',
    ",",
    "\t",
]


@pytest.fixture
def awkward_db(tmp_path: Path) -> Path:
    """A SQLite table with gapped keys and every awkward value, NULLs included."""
    path = tmp_path / "awkward.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, price REAL,"
            " qty INTEGER, raw BLOB)"
        )
        rows = []
        for n in range(1, 1201):
            key = n * 3 + (n % 7) * 1000 * (n % 2)
            label = AWKWARD_TEXT[n % len(AWKWARD_TEXT)] if n % 11 else None
            price = None if n % 13 == 0 else n / 7
            qty = None if n % 17 == 0 else n * 1_000_003
            raw = bytes([n % 256, 0, 255]) if n % 5 == 0 else None
            rows.append((key, label, price, qty, raw))
        db.executemany("INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?, ?)", rows)
    db.close()
    return path


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    """Environment for child processes: cache in tmp, this checkout importable."""
    env = dict(os.environ)
    env["NNGEXPORT_CACHE"] = str(tmp_path / "cache")
    return env


@pytest.fixture
def ipc_url() -> Iterator[str]:
    """A fresh ipc:// address with a short path (ipc paths are length-limited)."""
    with tempfile.TemporaryDirectory(prefix="nx-") as scratch:
        yield f"ipc://{scratch}/s.ipc"


#: How often :func:`wait_until` looks again.
POLL_INTERVAL = 0.01


async def wait_until(predicate: Callable[[], bool], *, timeout: float = 10) -> None:
    """Wait for ``predicate()`` to hold, looking every POLL_INTERVAL seconds.

    For conditions that change in another thread or process (NNG's I/O
    threads, a child process) and so cannot wake a Trio task directly.
    """
    with trio.fail_after(timeout):
        while not predicate():  # noqa: ASYNC110 - nothing here can set an Event
            await trio.sleep(POLL_INTERVAL)


class Lines:
    """Whole lines from a child's pipe, however the kernel splits its writes.

    One ``receive_some`` returns whatever has arrived: ``print("ready")`` can
    come as ``b"ready"`` and then ``b"\\n"``, so a test reads lines, not reads.
    """

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._pending = b""

    async def line(self) -> bytes:
        """The next line without its newline; what is left at end of file."""
        while b"\n" not in self._pending:
            data = await self._stream.receive_some()
            if not data:
                line, self._pending = self._pending, b""
                return line
            self._pending += data
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    async def rest(self) -> bytes:
        """Everything up to end of file."""
        while data := await self._stream.receive_some():
            self._pending += data
        rest, self._pending = self._pending, b""
        return rest


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def redis_servers(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Starts private redis-servers (see tests/redis_server.py); kills them after.

    Call it as ``redis_servers(aof=True, config={...})``.
    """
    binary = redis_binary()
    started: list[RedisServer] = []

    def start(
        *, aof: bool = False, config: dict[str, str] | None = None
    ) -> RedisServer:
        directory = Path(tempfile.mkdtemp(prefix="redis-", dir=tmp_path))
        server = RedisServer(binary, directory, aof=aof, config=config)
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()


@pytest.fixture
def redis_server(redis_servers: Callable[..., RedisServer]) -> RedisServer:
    """A private redis-server with no persistence."""
    return redis_servers()
