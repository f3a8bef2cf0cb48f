"""``nngexport bench --quick``: the harness runs every design and checks the files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import NNGEXPORT
from .redis_server import redis_binary

pytestmark = pytest.mark.timeout(120)


def _quick_bench(tmp_path: Path, *options: str) -> str:
    """Run ``nngexport bench --quick --repeat 1`` with ``options``; the report."""
    report = tmp_path / "report.md"
    result = subprocess.run(
        [
            *NNGEXPORT,
            "bench",
            "--quick",
            "--repeat",
            "1",
            "--report",
            str(report),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return report.read_text()


def test_quick_bench_reports_every_design_with_identical_files(tmp_path: Path) -> None:
    redis_binary()  # skips (or fails under CI) without redis-server
    text = _quick_bench(tmp_path, "--workloads", "control", "sweep")
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


async def test_the_kill_worker_fault_finds_a_child_started_by_any_thread(
    tmp_path: Path,
) -> None:
    """The fault's own machinery, against a parent that spawns from a thread."""
    import sys

    import trio

    from nngexport.bench import _kill_a_worker, _run_process

    part = tmp_path / "out.part"
    # The parent starts its child from a thread (as Trio does), then waits.
    script = (
        "import subprocess, sys, threading\n"
        "box = []\n"
        "t = threading.Thread(target=lambda: box.append(subprocess.Popen("
        "[sys.executable, '-c', 'import time; time.sleep(60)'])))\n"
        "t.start(); t.join()\n"
        f"open({str(part)!r}, 'wb').write(b'x' * 100)\n"
        "sys.exit(box[0].wait())\n"
    )
    killed: list[int] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(_run_process, [sys.executable, "-c", script])
            nursery.start_soon(_kill_a_worker, process, part, 50.0, killed)
    assert len(killed) == 1
    # The parent's child died of SIGKILL, so the parent exited with -9.
    assert process.returncode == 256 - 9 or process.returncode == -9


def test_quick_bench_with_a_fault_and_tracing_draws_its_charts(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    text = _quick_bench(
        tmp_path,
        *("--workloads", "realistic", "--workers", "2", "--designs", "nng-ipc"),
        *("--trace-allocations", "--fault", "kill-worker"),
        *("--charts", str(tmp_path / "charts")),
    )
    assert "### Coordinator allocations (tracemalloc" in text
    fault = text.split("### With a fault", 1)[1].split("###", 1)[0]
    assert "| nng-ipc | 1 |" in fault
    assert " 1/1 | 0 / 0 |" in fault
    assert "### Targets" in text
    charts = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert charts == ["memory.png", "scaling.png", "throughput.png"]
    assert "![throughput](charts/throughput.png)" in text
