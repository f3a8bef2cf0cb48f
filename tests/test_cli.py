"""The ``nngexport`` command, run as a user runs it: a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import trio

from .conftest import NNGEXPORT, Lines, alive, wait_until
from .redis_server import RedisServer, free_port

pytestmark = pytest.mark.timeout(120)


def run(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NNGEXPORT, *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )


def test_export_with_workers_matches_workers_0(tmp_path: Path) -> None:
    source = "synthetic:?rows=20000&seed=5"
    ref = run("export", source, str(tmp_path / "ref.csv"), "--workers", "0")
    out = run(
        "export",
        source,
        str(tmp_path / "out.csv"),
        "--workers",
        "2",
        "--chunk-rows",
        "700",
    )
    assert ref.returncode == out.returncode == 0, out.stderr
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert "wrote 20,000 rows" in out.stderr
    assert "with 2 workers" in out.stderr


@pytest.mark.parametrize(
    ("make_args", "status", "complaint"),
    [
        (lambda d: ["sqlite:///nowhere/x.db?table=t", f"{d}/o.csv"], 2, "nowhere"),
        (lambda d: [f"sqlite://{d}/db.db?table=nope", f"{d}/o.csv"], 2, "nope"),
        (
            lambda d: [f"sqlite://{d}/db.db?table=t&columns=id,bogus", f"{d}/o.csv"],
            2,
            "bogus",
        ),
        (lambda d: ["mysql://x/y", f"{d}/o.csv"], 2, "mysql"),
        (lambda d: ["synthetic:?rows=10", f"{d}/missing/o.csv"], 2, "missing"),
        (
            lambda d: ["synthetic:?rows=10", f"{d}/o.csv", "--listen", "udp://x:1"],
            2,
            "udp://x:1",
        ),
        (lambda d: ["synthetic:?rows=10", f"{d}/o.csv", "--workers", "-1"], 2, "-1"),
        (
            lambda d: [
                "synthetic:?rows=10",
                f"{d}/o.csv",
                "--workers",
                "0",
                "--listen",
                "tcp://127.0.0.1:0",
                "--discover-timeout",
                "0.5",
            ],
            1,
            "only 0 of 1 worker",
        ),
        (
            lambda d: ["synthetic:?rows=10", f"{d}/o.csv", "--design", "redis-lists"],
            2,
            "needs a Redis server",
        ),
        (
            lambda d: [
                "synthetic:?rows=10",
                f"{d}/o.csv",
                "--design",
                "redis-streams",
                "--redis",
                "nonsense://x",
            ],
            2,
            "nonsense://x",
        ),
        (
            lambda d: [
                "synthetic:?rows=10",
                f"{d}/o.csv",
                "--design",
                "redis-pubsub",
                "--redis",
                f"redis://127.0.0.1:{free_port()}/0",
            ],
            1,
            "Connection refused",
        ),
        (
            lambda d: ["synthetic:?rows=10", f"{d}/o.csv", "--redis", "redis://x/0"],
            2,
            "--redis goes with --design",
        ),
    ],
)
def test_bad_input_is_one_line_a_status_and_no_file(
    tmp_path: Path, make_args: object, status: int, complaint: str
) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "db.db") as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    db.close()
    assert callable(make_args)
    result = run("export", *make_args(tmp_path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == status, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nngexport: error: ")
    assert complaint in lines[0]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.db"]


def test_worker_rejects_a_bad_address() -> None:
    result = run("worker", "--connect", "nonsense")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "nngexport: error: coordinator address 'nonsense' is not an address;"
        " use ipc:///ABSOLUTE/PATH, tcp://HOST:PORT, tls+tcp://HOST:PORT or"
        " inproc://NAME"
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_export_its_workers_and_leaves_no_file(
    tmp_path: Path, signum: signal.Signals
) -> None:
    out = tmp_path / "out.csv"
    command = [
        *NNGEXPORT,
        "-v",
        "export",
        "synthetic:?rows=50000000",
        str(out),
        "--workers",
        "2",
        "--chunk-rows",
        "2000",
    ]
    pids: list[int] = []
    with trio.fail_after(60):
        process = await trio.lowlevel.open_process(command, stderr=subprocess.PIPE)
        assert process.stderr is not None
        seen = b""
        async for data in process.stderr:
            seen += data
            pids = [int(p) for p in re.findall(rb"worker \S+-(\d+)-\w+ joined", seen)]
            if len(pids) == 2:
                break
        process.send_signal(signum)
        status = await process.wait()
    assert status == 128 + signum
    await wait_until(lambda: not any(alive(pid) for pid in pids))
    # Never a partial file under the output name; if chunks were written
    # already, the part file and journal stay for --resume.
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left in ([], [".out.csv.nngexport-journal", ".out.csv.nngexport-part"])


async def test_a_worker_exits_cleanly_on_sigterm(ipc_url: str) -> None:
    from nngexport import open_coordinator

    with trio.fail_after(30):
        async with open_coordinator(ipc_url) as coordinator:
            worker = await trio.lowlevel.open_process(
                [*NNGEXPORT, "worker", "--connect", ipc_url, "--allow", "synthetic:*"],
                stderr=subprocess.PIPE,
            )
            # Once it answers a survey its signal handlers are surely in place.
            await coordinator.wait_for_workers(1)
            worker.send_signal(signal.SIGTERM)
            assert await worker.wait() == 128 + signal.SIGTERM
            assert worker.stderr is not None
            err = await Lines(worker.stderr).rest()
    assert err.decode().strip() == "nngexport: stopped by SIGTERM"


def test_demo_runs_and_checks_its_output(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    out = tmp_path / "demo.csv"
    args = [
        "demo",
        "--rows",
        "30000",
        "--workers",
        "2",
        "--chunk-rows",
        "3000",
        "--output",
        str(out),
    ]
    first = run(*args, env=child_env)
    assert first.returncode == 0, first.stderr
    assert "building the demo table" in first.stdout
    assert "identical to the in-process export" in first.stdout
    assert "speed-up over --workers 0" in first.stdout
    assert out.stat().st_size > 30000 * 50
    again = run(*args, env=child_env)
    assert again.returncode == 0, again.stderr
    assert "building" not in again.stdout
    assert os.listdir(Path(child_env["NNGEXPORT_CACHE"]))


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--design", "redis-streams"], "needs a Redis server"),
        (
            ["--design", "redis-lists", "--redis", "redis://x/0", "--connect", "x"],
            "--connect is for --design nng",
        ),
        ([], "a worker needs --connect URL"),
        (["--connect", "ipc:///tmp/x.ipc"], "a worker needs --allow PATTERN"),
        (
            ["--connect", "tcp://127.0.0.1:5", "--allow", "*", "--tls-cert", "c"],
            "add --tls-key, --tls-ca",
        ),
        (
            ["--connect", "tls+tcp://127.0.0.1:5", "--allow", "*"],
            "needs --tls-cert, --tls-key and --tls-ca",
        ),
        (
            [
                *("--connect", "tcp://127.0.0.1:5", "--allow", "*"),
                *("--tls-cert", "c", "--tls-key", "k", "--tls-ca", "a"),
            ],
            "need a tls+tcp:// coordinator address",
        ),
        (
            [
                *("--connect", "tls+tcp://127.0.0.1:5", "--allow", "*"),
                *("--tls-cert", "/nonexistent/c", "--tls-key", "k", "--tls-ca", "a"),
            ],
            "cannot read the TLS certificate '/nonexistent/c'",
        ),
        (
            ["--connect", "tcp://127.0.0.1:5", "--allow", "*", "--secret-file", "/x/y"],
            "cannot read the shared secret from '/x/y'",
        ),
    ],
)
def test_a_worker_with_the_wrong_options_says_which(
    args: list[str], complaint: str
) -> None:
    result = run("worker", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert complaint in result.stderr


def test_export_over_redis_from_the_command_line(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    source = "synthetic:?rows=20000&seed=5"
    ref = run("export", source, str(tmp_path / "ref.csv"), "--workers", "0")
    out = run(
        "export",
        source,
        str(tmp_path / "out.csv"),
        "--workers",
        "2",
        "--design",
        "redis-streams",
        "--redis",
        redis_server.url,
    )
    assert ref.returncode == out.returncode == 0, out.stderr
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert "with 2 workers" in out.stderr
