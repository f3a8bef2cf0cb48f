"""A private redis-server: its own port, directory and lifetime.

The tests, the fault script and the benchmark start their own server rather
than use a shared one, so that they can kill it and start it again on the
same port. It listens on 127.0.0.1 on a port that was free when the server
was first started, logs to a file in its directory (a pipe nobody reads would
fill and stall the server) and keeps nothing on disk unless asked for an
append-only file.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path
from typing import IO


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process that a test may kill and start again.

    Args:
        binary: The redis-server executable.
        directory: Its working directory (logs, and the AOF if any).
        aof: Keep an append-only file with ``appendfsync always``, so a
            restart loses nothing that was acknowledged.
        config: Extra ``--name value`` settings, e.g.
            ``{"client-output-buffer-limit": "pubsub 1mb 512kb 1"}``.
    """

    def __init__(
        self,
        binary: str,
        directory: Path,
        *,
        aof: bool = False,
        config: dict[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.aof = aof
        self.config = dict(config or {})
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and return once it accepts connections.

        The first start picks a free port; later starts reuse it, so clients
        can reconnect to the same URL. A port taken in between by some other
        process is retried on a new one only on the first start.
        """
        for _ in range(5):
            port = self.port or free_port()
            if self._start_on(port):
                self.port = port
                self.starts += 1
                return
            if self.port:
                break
        raise RuntimeError(
            f"redis-server did not start; see {self.directory / 'redis.log'}"
        )

    def _start_on(self, port: int) -> bool:
        command = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(self.directory),
            "--save", "",
            "--logfile", "",
            "--daemonize", "no",
            "--appendonly", "yes" if self.aof else "no",
        ]  # fmt: skip
        if self.aof:
            command += ["--appendfsync", "always"]
        for name, value in self.config.items():
            command += [f"--{name}", value]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert process.stdout is not None
        log = (self.directory / "redis.log").open("ab")
        # The server says when it is ready; read its log up to that line.
        for line in process.stdout:
            log.write(line)
            if b"Ready to accept connections" in line:
                break
        else:
            log.close()
            process.wait()
            process.stdout.close()
            return False
        # Keep reading, or a full pipe would stall the server.
        threading.Thread(target=_copy, args=(process.stdout, log), daemon=True).start()
        self.process = process
        return True

    def kill(self) -> None:
        """SIGKILL the server and wait for it."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        """Kill the server and start it again on the same port."""
        self.kill()
        self.start()


def _copy(source: IO[bytes], log: IO[bytes]) -> None:
    with source, log:
        for line in source:
            log.write(line)
