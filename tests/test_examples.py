"""The example scripts run as documented."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .redis_server import redis_binary

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_embedding_example_exports_with_local_workers(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "embed_coordinator.py"),
            str(out),
            "--rows",
            "20000",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "20/20 chunks, 20,000 rows" in result.stdout
    assert out.read_bytes().count(b"\r\n") >= 20001


def _free_port() -> int:
    # The port is only a default for the example; a clash shows as a clear
    # "cannot listen" error, never as a wrong file.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_tcp_example_runs_a_coordinator_and_two_workers(tmp_path: Path) -> None:
    out = tmp_path / "tcp.csv"
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    assert shutil.which("nngexport", path=env["PATH"]), "nngexport is not installed"
    result = subprocess.run(
        ["bash", str(EXAMPLES / "tcp_three_terminals.sh"), str(out), str(_free_port())],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 300,000 rows" in result.stderr
    assert "with 2 workers" in result.stderr


def test_compare_example_runs_every_design_identically(tmp_path: Path) -> None:
    redis_binary()  # skips (or fails under CI) without redis-server
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "compare_designs.py"),
            "--rows",
            "30000",
            "--chunk-rows",
            "3000",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "in-process",
        "nng",
        "redis-pubsub",
        "redis-streams",
        "redis-lists",
    ]
    assert all(line.endswith("identical") for line in lines[1:]), result.stdout
