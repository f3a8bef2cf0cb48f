"""``nngexport bench --quick``: the harness runs every design and checks the files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import NNGEXPORT
from .redis_server import redis_binary

pytestmark = pytest.mark.timeout(120)


def test_quick_bench_reports_every_design_with_identical_files(tmp_path: Path) -> None:
    redis_binary()  # skips (or fails under CI) without redis-server
    report = tmp_path / "report.md"
    result = subprocess.run(
        [
            *NNGEXPORT,
            "bench",
            "--quick",
            "--workloads",
            "control",
            "sweep",
            "--repeat",
            "1",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    rows = [
        line for line in text.splitlines() if line.startswith("| ") and "/1 |" in line
    ]
    designs = [
        "in-process",
        "nng-ipc",
        "nng-tcp",
        "redis-pubsub",
        "redis-streams",
        "redis-lists",
    ]
    # Three cases (control, and the sweep's two chunk sizes), each design once.
    assert sorted(row.split(" | ")[0][2:] for row in rows) == sorted(designs * 3)
    assert all(" 1/1 | " in row for row in rows), text
    # Every design timed its chunks, dispatch to written.
    assert all(re.search(r"\| [\d,]+\.\d / [\d,]+\.\d \|", row) for row in rows), text
    assert "Command: `nngexport bench --quick" in text
