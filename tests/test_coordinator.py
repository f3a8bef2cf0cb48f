"""The coordinator and worker as a library: one Trio program, real NNG sockets."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest
import trio

from nngexport import (
    ChunkFailedError,
    ExportError,
    NoWorkersError,
    open_coordinator,
    serve_worker,
)
from nngexport.job import plan_job
from nngexport.local import worker_command
from nngexport.sink import prepare

from .conftest import NNGEXPORT, wait_until

#: A worker for these tests, which may open any source.
ANY_SOURCE_WORKER = functools.partial(serve_worker, allow=["*"])

pytestmark = pytest.mark.timeout(60)

SOURCE = "synthetic:?rows=4000&seed=3"


async def _reference(tmp_path: Path) -> bytes:
    from nngexport import export_in_process

    await export_in_process(SOURCE, tmp_path / "ref.csv", chunk_rows=250)
    return (tmp_path / "ref.csv").read_bytes()


async def test_in_process_workers_export_over_inproc(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with (
            open_coordinator("inproc://lib-test") as coordinator,
            trio.open_nursery() as nursery,
        ):
            for _ in range(2):
                await nursery.start(ANY_SOURCE_WORKER, coordinator.endpoint)
            summary = await coordinator.export(
                SOURCE, tmp_path / "out.csv", chunk_rows=250, min_workers=2
            )
            assert len(coordinator.workers()) == 2
            nursery.cancel_scope.cancel()
    assert (tmp_path / "out.csv").read_bytes() == await _reference(tmp_path)
    assert summary.chunks == 16
    assert summary.workers == 2


async def test_one_coordinator_runs_exports_one_after_another(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with (
            open_coordinator("inproc://lib-seq") as coordinator,
            trio.open_nursery() as nursery,
        ):
            worker = await nursery.start(ANY_SOURCE_WORKER, coordinator.endpoint)
            for name in ("a.csv", "b.csv"):
                await coordinator.export(SOURCE, tmp_path / name, chunk_rows=250)
            nursery.cancel_scope.cancel()
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert worker.statistics().rendered == 32


async def test_after_its_last_export_a_coordinator_refuses_another(
    tmp_path: Path,
) -> None:
    with trio.fail_after(30):
        async with (
            open_coordinator("inproc://lib-last") as coordinator,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(ANY_SOURCE_WORKER, coordinator.endpoint)
            await coordinator.export(
                SOURCE, tmp_path / "a.csv", chunk_rows=250, last=True
            )
            with pytest.raises(ExportError, match="has run its last export"):
                await coordinator.export(SOURCE, tmp_path / "b.csv", chunk_rows=250)
            nursery.cancel_scope.cancel()
    assert (tmp_path / "a.csv").read_bytes() == await _reference(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "ref.csv"]


async def test_a_worker_that_starts_before_the_coordinator_is_found(
    tmp_path: Path, ipc_url: str
) -> None:
    with trio.fail_after(30):
        worker = await trio.lowlevel.open_process(
            [*NNGEXPORT, "worker", "--connect", ipc_url, "--allow", "synthetic:*"]
        )
        try:
            async with open_coordinator(ipc_url) as coordinator:
                await coordinator.export(SOURCE, tmp_path / "out.csv", chunk_rows=250)
        finally:
            worker.terminate()
            await worker.wait()
    assert (tmp_path / "out.csv").read_bytes() == await _reference(tmp_path)


async def test_a_worker_that_starts_after_the_coordinator_is_found_over_tcp(
    tmp_path: Path,
) -> None:
    with trio.fail_after(30):
        async with open_coordinator("tcp://127.0.0.1:0") as coordinator:
            assert not coordinator.endpoint.endswith(":0")
            worker = await trio.lowlevel.open_process(
                worker_command(coordinator.endpoint, slots=2, allow=["synthetic:*"]),
                stdin=subprocess.PIPE,
            )
            try:
                found = await coordinator.wait_for_workers(1, timeout=20)
                await coordinator.export(SOURCE, tmp_path / "out.csv", chunk_rows=250)
            finally:
                assert worker.stdin is not None
                await worker.stdin.aclose()
                assert await worker.wait() == 0
    assert found[0].slots == 2
    assert (tmp_path / "out.csv").read_bytes() == await _reference(tmp_path)


async def test_no_workers_in_time_fails_and_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with trio.fail_after(30):
        async with open_coordinator("inproc://lib-none") as coordinator:
            with pytest.raises(NoWorkersError, match="only 0 of 1 worker"):
                await coordinator.export(SOURCE, out, discover_timeout=0.5)
    assert list(tmp_path.iterdir()) == []


async def test_a_chunk_the_worker_cannot_render_fails_the_export(
    tmp_path: Path,
) -> None:
    db = tmp_path / "gone.db"
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    conn.close()
    plan = plan_job(f"sqlite://{db}?table=t", 5)
    db.unlink()  # planned, then the table vanishes before any worker reads it
    out = await prepare(plan, tmp_path / "out.csv", resume=False)
    with trio.fail_after(30):
        async with (
            open_coordinator("inproc://lib-fail") as coordinator,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(ANY_SOURCE_WORKER, coordinator.endpoint)
            with pytest.raises(
                ChunkFailedError, match=r"chunk \d was given up after 3 attempts"
            ):
                await coordinator.export_plan(plan, out, started=trio.current_time())
            nursery.cancel_scope.cancel()
    assert list(tmp_path.iterdir()) == []


async def test_garbage_on_the_result_socket_is_dropped_and_counted(
    tmp_path: Path,
) -> None:
    import pynng

    with trio.fail_after(30):
        async with open_coordinator("inproc://lib-junk") as coordinator:
            with pynng.Push0() as rogue:
                rogue.dial("inproc://lib-junk.results", block=False)
                for junk in (b"", b"NX", b"\x00" * 100, b"NX\x01\x04" + b"\xff" * 8):
                    await rogue.asend(junk)
                async with trio.open_nursery() as nursery:
                    await nursery.start(ANY_SOURCE_WORKER, coordinator.endpoint)
                    await coordinator.export(
                        SOURCE, tmp_path / "out.csv", chunk_rows=250
                    )
                    nursery.cancel_scope.cancel()
                # A sent frame may still be on its way; the rogue stays open.
                await wait_until(lambda: coordinator.statistics().malformed == 4)
    assert (tmp_path / "out.csv").read_bytes() == await _reference(tmp_path)


async def test_an_error_in_the_body_is_not_wrapped_in_a_group() -> None:
    with pytest.raises(KeyError):
        async with open_coordinator("inproc://lib-body"):
            raise KeyError("mine")


async def test_a_worker_busy_with_a_long_chunk_still_answers_surveys(
    tmp_path: Path,
) -> None:
    from nngexport.membership import LIVE_ROUNDS

    live_counts: list[int] = []
    with trio.fail_after(60):
        async with (
            open_coordinator("inproc://lib-busy") as coordinator,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(ANY_SOURCE_WORKER, coordinator.endpoint)
            await coordinator.wait_for_workers(1)

            async def watch() -> None:
                while True:
                    live_counts.append(len(await coordinator.next_survey()))

            nursery.start_soon(watch)
            # One chunk of 300k synthetic rows renders for well over a second.
            summary = await coordinator.export(
                "synthetic:?rows=300000", tmp_path / "out.csv", chunk_rows=300_000
            )
            nursery.cancel_scope.cancel()
    assert summary.chunks == 1
    # Long enough that a worker which stopped answering would have been dropped.
    assert len(live_counts) > LIVE_ROUNDS
    assert set(live_counts) == {1}
