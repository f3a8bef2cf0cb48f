"""Real faults during real exports: killed, stalled and failing workers."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import trio

from nngexport import (
    ChunkFailedError,
    NoWorkersError,
    Progress,
    export_in_process,
    open_coordinator,
    open_local_workers,
)
from nngexport.faults import run_trial, slow_disk

from .conftest import NNGEXPORT, alive, wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("seed", [11, 12, 13])
async def test_a_killed_worker_loses_no_row(seed: int, tmp_path: Path) -> None:
    with trio.fail_after(90):
        result = await run_trial(seed, fault="kill", directory=tmp_path)
    assert result.identical, (result.rows_lost, result.rows_doubled)
    assert result.summary.workers_lost >= 1
    # A killed worker's chunks are re-sent well within 1.5 s.
    assert all(t < 1.5 for t in result.summary.recoveries), result.summary.recoveries


@pytest.mark.parametrize("seed", [21, 22])
async def test_a_stalled_worker_loses_no_row_and_doubles_none(
    seed: int, tmp_path: Path
) -> None:
    with trio.fail_after(90):
        result = await run_trial(seed, fault="stop", directory=tmp_path)
    assert result.identical, (result.rows_lost, result.rows_doubled)
    assert result.summary.workers_lost >= 1
    if result.summary.reissued:
        # Resumed, it finished what it held: copies of re-issued chunks.
        assert result.summary.duplicates >= 1


async def _reference(tmp_path: Path, rows: int, chunk_rows: int) -> bytes:
    await export_in_process(
        f"synthetic:?rows={rows}", tmp_path / "ref.csv", chunk_rows=chunk_rows
    )
    return (tmp_path / "ref.csv").read_bytes()


async def test_a_chunk_that_fails_once_is_retried(tmp_path: Path) -> None:
    marker = tmp_path / "failed-once"
    source = f"synthetic:?rows=20000&fail_at=12345&fail_once={marker}"
    with trio.fail_after(60):
        async with (
            open_coordinator() as coordinator,
            open_local_workers(coordinator.endpoint, 2, allow=["*"]),
        ):
            summary = await coordinator.export(
                source, tmp_path / "out.csv", chunk_rows=1000, min_workers=2
            )
    assert marker.exists()
    assert summary.reissued == 1
    assert (tmp_path / "out.csv").read_bytes() == await _reference(
        tmp_path, 20000, 1000
    )


async def test_a_chunk_that_always_fails_fails_the_export_naming_it(
    tmp_path: Path,
) -> None:
    source = "synthetic:?rows=20000&fail_at=12345"
    with trio.fail_after(60):
        async with (
            open_coordinator() as coordinator,
            open_local_workers(coordinator.endpoint, 2, allow=["*"]),
        ):
            with pytest.raises(ChunkFailedError) as caught:
                await coordinator.export(
                    source, tmp_path / "out.csv", chunk_rows=1000, min_workers=2
                )
    message = str(caught.value)
    assert message.startswith("chunk 12 was given up after 3 attempts (last: failed;")
    assert "injected failure in chunk 12 (row 12345)" in message
    assert not (tmp_path / "out.csv").exists()


async def test_a_worker_that_joins_mid_export_takes_chunks(tmp_path: Path) -> None:
    halfway = trio.Event()

    def watch(progress: Progress) -> None:
        if progress.chunks_done >= 5:
            halfway.set()

    with trio.fail_after(60):
        async with (
            open_coordinator() as coordinator,
            open_local_workers(coordinator.endpoint, 1, allow=["*"]),
            trio.open_nursery() as nursery,
        ):

            async def join_late() -> None:
                await halfway.wait()
                async with open_local_workers(coordinator.endpoint, 1, allow=["*"]):
                    await trio.sleep_forever()

            nursery.start_soon(join_late)
            summary = await coordinator.export(
                "synthetic:?rows=400000",
                tmp_path / "out.csv",
                chunk_rows=4000,
                min_workers=1,
                on_progress=watch,
            )
            nursery.cancel_scope.cancel()
    assert summary.workers == 2
    assert (tmp_path / "out.csv").read_bytes() == await _reference(
        tmp_path, 400000, 4000
    )


async def test_no_live_worker_for_worker_timeout_fails_cleanly(tmp_path: Path) -> None:
    started = trio.Event()

    def watch(progress: Progress) -> None:
        started.set()

    with trio.fail_after(60):
        async with (
            open_coordinator() as coordinator,
            open_local_workers(coordinator.endpoint, 1, allow=["*"]) as (worker,),
            trio.open_nursery() as nursery,
        ):

            async def kill_it() -> None:
                await started.wait()
                worker.kill()

            nursery.start_soon(kill_it)
            with pytest.raises(NoWorkersError, match="no worker has answered for 1 s"):
                await coordinator.export(
                    "synthetic:?rows=10000000",
                    tmp_path / "out.csv",
                    chunk_rows=2000,
                    worker_timeout=1.0,
                    on_progress=watch,
                )
    assert not (tmp_path / "out.csv").exists()


async def test_after_a_coordinator_crash_workers_exit_and_resume_finishes_the_file(
    tmp_path: Path,
) -> None:
    import re

    out = tmp_path / "out.csv"
    source = "synthetic:?rows=600000&seed=4"
    command = [
        *NNGEXPORT,
        "-v",
        "export",
        source,
        str(out),
        "--workers",
        "2",
        "--chunk-rows",
        "3000",
    ]
    with trio.fail_after(90):
        crashed = await trio.lowlevel.open_process(command, stderr=subprocess.PIPE)
        assert crashed.stderr is not None
        seen = b""
        # Wait for both workers, then for some chunks to be journaled.
        journal = tmp_path / ".out.csv.nngexport-journal"
        async for data in crashed.stderr:
            seen += data
            if len(re.findall(rb"worker \S+ joined", seen)) == 2:
                break
        pids = [int(p) for p in re.findall(rb"worker \S+-(\d+)-\w+ joined", seen)]
        await wait_until(
            lambda: journal.exists() and journal.read_bytes().count(b"\n") > 5
        )
        crashed.send_signal(signal.SIGKILL)
        await crashed.wait()
        # Started by the coordinator, the workers notice it is gone.
        await wait_until(lambda: not any(alive(pid) for pid in pids), timeout=10)
        assert not out.exists()

        refused = await trio.run_process(
            [*NNGEXPORT, "export", source, str(out), "--workers", "2"],
            capture_stderr=True,
            check=False,
        )
        assert refused.returncode == 2
        assert b"rerun with --resume" in refused.stderr

        resumed = await trio.run_process(
            [
                *NNGEXPORT,
                "export",
                source,
                str(out),
                "--workers",
                "2",
                "--chunk-rows",
                "3000",
                "--resume",
            ],
            capture_stderr=True,
            check=False,
        )
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    await export_in_process(source, tmp_path / "ref.csv", chunk_rows=3000)
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()


async def test_a_slow_disk_makes_no_chunk_look_lost(tmp_path: Path) -> None:
    # While the writer is stuck, results and acknowledgements wait unread in
    # the coordinator's own buffers; that must not pass for lost workers.
    with trio.fail_after(60), slow_disk(3) as stalled:
        async with (
            open_coordinator() as coordinator,
            open_local_workers(coordinator.endpoint, 2, slots=2, allow=["*"]),
        ):
            summary = await coordinator.export(
                "synthetic:?rows=200000",
                tmp_path / "out.csv",
                chunk_rows=10_000,
                min_workers=2,
            )
    assert stalled.is_set()
    assert (summary.reissued, summary.duplicates, summary.workers_lost) == (0, 0, 0)
    assert (tmp_path / "out.csv").read_bytes() == await _reference(
        tmp_path, 200_000, 10_000
    )
