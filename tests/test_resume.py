"""Interrupted exports keep their progress, and --resume finishes them exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from nngexport import OutputError, Progress, export_in_process, run_export

SOURCE = "synthetic:?rows=30000&seed=9"


async def _interrupt_after(chunks: int, output: Path, *, workers: int) -> None:
    with trio.CancelScope() as scope:

        def stop(progress: Progress) -> None:
            if progress.chunks_done >= chunks:
                scope.cancel()

        await run_export(
            SOURCE, output, workers=workers, chunk_rows=1000, on_progress=stop
        )
    assert scope.cancelled_caught


@pytest.mark.parametrize("workers", [0, 2])
async def test_an_interrupted_export_resumes_to_identical_bytes(
    tmp_path: Path, workers: int
) -> None:
    out = tmp_path / "out.csv"
    with trio.fail_after(60):
        await _interrupt_after(7, out, workers=workers)
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            ".out.csv.nngexport-journal",
            ".out.csv.nngexport-part",
        ]
        with pytest.raises(OutputError, match="rerun with --resume"):
            await run_export(SOURCE, out, workers=workers, chunk_rows=1000)
        summary = await run_export(
            SOURCE, out, workers=workers, chunk_rows=1000, resume=True
        )
        await export_in_process(SOURCE, tmp_path / "ref.csv", chunk_rows=1000)
    assert summary.resumed_at >= 7
    assert summary.rows == 30000
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "ref.csv"]


async def test_resume_refuses_a_different_plan(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with trio.fail_after(60):
        await _interrupt_after(3, out, workers=0)
        with pytest.raises(OutputError, match="used 1000 rows per chunk, not 500"):
            await run_export(SOURCE, out, workers=0, chunk_rows=500, resume=True)
        with pytest.raises(OutputError, match="cannot resume: the interrupted export"):
            await run_export(
                "synthetic:?rows=30001&seed=9",
                out,
                workers=0,
                chunk_rows=1000,
                resume=True,
            )
    assert not out.exists()


async def test_resume_with_nothing_to_resume_starts_afresh(tmp_path: Path) -> None:
    with trio.fail_after(60):
        summary = await run_export(
            SOURCE, tmp_path / "out.csv", workers=0, chunk_rows=1000, resume=True
        )
    assert summary.resumed_at == 0
    assert summary.rows == 30000


async def test_a_failure_before_any_chunk_leaves_nothing(tmp_path: Path) -> None:
    from nngexport import ChunkFailedError

    with trio.fail_after(60), pytest.raises(ChunkFailedError):
        await run_export(
            "synthetic:?rows=3000&fail_at=5",
            tmp_path / "out.csv",
            workers=1,
            chunk_rows=1000,
        )
    assert list(tmp_path.iterdir()) == []
