"""The example scripts run as documented."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

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
