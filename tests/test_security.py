"""Peers must prove who they are; garbage never breaks an export.

Allow-lists, shared-secret mode (HMAC), TLS with mutual authentication, and
a rogue peer hammering every socket of a coordinator during a real export.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
from contextlib import AbstractContextManager
from pathlib import Path

import pynng
import pytest
import trio

from nngexport import open_coordinator, serve_worker
from nngexport.auth import Sealer
from nngexport.errors import ChunkFailedError, NoWorkersError
from nngexport.faults import before_each_write
from nngexport.job import plan_job
from nngexport.local import open_local_workers
from nngexport.output import AtomicOutput
from nngexport.render import render_chunk
from nngexport.sink import export_in_process, prepare
from nngexport.sources import open_source
from nngexport.wire import Result, encode

from .conftest import NNGEXPORT, Lines, wait_until
from .pki import Authority

SOURCE = "synthetic:?rows=40000&seed=11"
KEY = b"0123456789abcdef0123456789abcdef"


async def _reference(tmp_path: Path, source: str = SOURCE) -> bytes:
    path = tmp_path / "reference.csv"
    await export_in_process(source, path, chunk_rows=2000)
    return path.read_bytes()


async def test_a_worker_refuses_a_source_it_was_not_allowed(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with (
            open_coordinator("inproc://sec-allow") as coordinator,
            trio.open_nursery() as nursery,
        ):
            worker = await nursery.start(
                functools.partial(serve_worker, allow=["blocks:*"]),
                coordinator.endpoint,
            )
            with pytest.raises(
                ChunkFailedError, match=r"not allowed: worker \S+ refused"
            ):
                await coordinator.export(SOURCE, tmp_path / "out.csv", chunk_rows=2000)
            assert worker.statistics().refused >= 1
            assert worker.statistics().rendered == 0
            # What it was allowed, it renders.
            await coordinator.export(
                "blocks:?count=50&size=100", tmp_path / "ok.csv", chunk_rows=10
            )
            nursery.cancel_scope.cancel()
    assert not (tmp_path / "out.csv").exists()
    assert (tmp_path / "ok.csv").stat().st_size == len(b"block,payload\r\n") + 50 * 100


async def test_shared_secret_export_is_identical_and_keyless_peers_are_dropped(
    tmp_path: Path,
) -> None:
    sealer = Sealer(KEY)
    with trio.fail_after(40):
        async with (
            open_coordinator("inproc://sec-hmac", secret=sealer) as coordinator,
            trio.open_nursery() as nursery,
        ):
            # A worker without the key never joins: its answers are dropped.
            keyless = await nursery.start(
                functools.partial(serve_worker, allow=["*"]), coordinator.endpoint
            )
            with pytest.raises(NoWorkersError):
                await coordinator.wait_for_workers(1, timeout=1.0)
            # To it a sealed survey is a frame with 32 stray bytes at the end.
            assert keyless.statistics().malformed >= 1
            assert keyless.statistics().surveys == 0
            # A valid but unsealed result is dropped as unauthenticated.
            with pynng.Push0() as rogue:
                rogue.dial(f"{coordinator.endpoint}.results", block=False)
                await rogue.asend(encode(Result("job", 0, "w", 1, b"x\r\n")))
                await wait_until(lambda: coordinator.statistics().unauthenticated == 1)
            await nursery.start(
                functools.partial(serve_worker, allow=["*"], secret=sealer),
                coordinator.endpoint,
            )
            summary = await coordinator.export(
                SOURCE, tmp_path / "out.csv", chunk_rows=2000
            )
            nursery.cancel_scope.cancel()
    assert (tmp_path / "out.csv").read_bytes() == await _reference(tmp_path)
    assert keyless.statistics().rendered == 0
    assert dict(summary.dropped).keys() == {"malformed", "unauthenticated", "stray"}


def _writes_held_until(gate: threading.Event) -> AbstractContextManager[None]:
    """The first chunk's write waits for ``gate``: the export cannot end sooner."""

    def hold(output: AtomicOutput, data: bytes | memoryview) -> None:
        if output.bytes_written:
            gate.wait(timeout=30)

    return before_each_write(hold)


async def test_a_rogue_peer_on_every_socket_changes_nothing(tmp_path: Path) -> None:
    """Over tcp in shared-secret mode, with a keyless rogue on all three sockets."""
    sealer = Sealer(KEY)
    plan = await trio.to_thread.run_sync(plan_job, SOURCE, 2000)
    source = open_source(plan.source)
    genuine = render_chunk(source, plan.chunks[1])
    source.close()
    captured = [
        # A result of another export with the same key, captured and replayed.
        sealer.seal(encode(Result("0" * 16, 1, "w", genuine.rows, b"old,rows\r\n"))),
        # A replay of this export's genuine result for chunk 1.
        sealer.seal(encode(Result(plan.job, 1, "w", genuine.rows, genuine.data))),
    ]
    frames = tmp_path / "captured.json"
    frames.write_text(json.dumps([frame.hex() for frame in captured]))
    gate = threading.Event()
    rogue_script = Path(__file__).with_name("rogue_peer.py")
    with trio.fail_after(90), _writes_held_until(gate):
        async with (
            open_coordinator(
                "tcp://127.0.0.1:0", secret=sealer, max_result_bytes=2**20
            ) as coordinator,
            open_local_workers(
                coordinator.endpoint, 2, allow=["synthetic:*"], secret=sealer
            ),
        ):
            rogue = await trio.lowlevel.open_process(
                [sys.executable, str(rogue_script), coordinator.endpoint, str(frames)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            assert rogue.stdout is not None
            assert rogue.stdin is not None
            said = Lines(rogue.stdout)
            try:
                destination = await prepare(plan, tmp_path / "out.csv", resume=False)
                async with trio.open_nursery() as nursery:
                    done: list[object] = []

                    async def run() -> None:
                        done.append(
                            await coordinator.export_plan(
                                plan,
                                destination,
                                started=trio.current_time(),
                                min_workers=2,
                            )
                        )

                    nursery.start_soon(run)
                    first = await said.line()
                    assert first == b"ready", first
                    gate.set()
                # Keyless garbage and forgeries alike fail the HMAC check: the
                # 5 on the result pipeline (where nothing is dropped unread),
                # and the survey answers that came in time. The other job's
                # result is sealed, so it is stray.
                await wait_until(
                    lambda: (
                        coordinator.statistics().unauthenticated >= 5
                        and coordinator.statistics().stray >= 1
                    ),
                    timeout=20,
                )
            finally:
                gate.set()
                await rogue.stdin.aclose()
                report = await said.rest()
                await rogue.wait()
    assert rogue.returncode == 0
    assert report.startswith(b"took "), report
    assert (tmp_path / "out.csv").read_bytes() == await _reference(tmp_path)
    assert done


async def test_tls_export_is_identical_and_a_worker_from_another_ca_is_refused(
    tmp_path: Path,
) -> None:
    ours = Authority.create(tmp_path / "pki", "our-ca")
    theirs = Authority.create(tmp_path / "pki", "their-ca")
    coordinator_files = ours.issue("coordinator")
    good = ours.issue("worker")
    rogue = theirs.issue("rogue")
    with trio.fail_after(60):
        async with (
            open_coordinator(
                "tls+tcp://127.0.0.1:0", tls=coordinator_files
            ) as coordinator,
            trio.open_nursery() as nursery,
        ):
            assert coordinator.endpoint.startswith("tls+tcp://127.0.0.1:")
            outsider = await nursery.start(
                functools.partial(serve_worker, allow=["*"], tls=rogue),
                coordinator.endpoint,
            )
            with pytest.raises(NoWorkersError):
                await coordinator.wait_for_workers(1, timeout=1.5)
            # The handshake fails: it got no survey at all.
            assert outsider.statistics().surveys == 0
            await nursery.start(
                functools.partial(serve_worker, allow=["*"], tls=good),
                coordinator.endpoint,
            )
            summary = await coordinator.export(
                SOURCE, tmp_path / "out.csv", chunk_rows=2000
            )
            assert len(coordinator.workers()) == 1
            assert outsider.statistics().rendered == 0
            nursery.cancel_scope.cancel()
    assert summary.workers == 1
    assert (tmp_path / "out.csv").read_bytes() == await _reference(tmp_path)


def _export_cli(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *NNGEXPORT,
            "export",
            SOURCE,
            str(tmp_path / "out.csv"),
            "--chunk-rows",
            "2000",
            "--quiet",
            "--summary-json",
            str(tmp_path / "summary.json"),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


async def test_the_command_line_exports_in_shared_secret_mode(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(KEY + b"\n")
    result = await trio.to_thread.run_sync(
        lambda: _export_cli(
            tmp_path,
            *("--workers", "2", "--listen", "tcp://127.0.0.1:0"),
            *("--secret-file", str(secret)),
        )
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.csv").read_bytes() == await _reference(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert dict(summary["dropped"]) == {
        "malformed": 0,
        "unauthenticated": 0,
        "stray": 0,
    }


async def test_the_command_line_exports_over_tls(tmp_path: Path) -> None:
    ca = Authority.create(tmp_path / "pki", "ca")
    files = ca.issue("coordinator")
    result = await trio.to_thread.run_sync(
        lambda: _export_cli(
            tmp_path,
            *("--workers", "2", "--listen", "tls+tcp://127.0.0.1:0"),
            *("--tls-cert", str(files.cert), "--tls-key", str(files.key)),
            *("--tls-ca", str(files.ca)),
        )
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.csv").read_bytes() == await _reference(tmp_path)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (
            ["--listen", "tcp://127.0.0.1:0", "--tls-cert", "a", "--tls-key", "b"],
            "add --tls-ca",
        ),
        (
            [
                *("--listen", "tcp://127.0.0.1:0", "--tls-cert", "a"),
                *("--tls-key", "b", "--tls-ca", "c"),
            ],
            "need --listen tls+tcp://",
        ),
        (["--listen", "tls+tcp://127.0.0.1:0"], "needs --tls-cert, --tls-key"),
        (["--listen", "tcp://127.0.0.1:0", "--secret-file", "/nope"], "cannot read"),
    ],
)
def test_bad_security_options_fail_in_one_line_and_write_nothing(
    tmp_path: Path, options: list[str], complaint: str
) -> None:
    result = _export_cli(tmp_path, "--workers", "1", *options)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert complaint in result.stderr
    assert list(tmp_path.iterdir()) == []
