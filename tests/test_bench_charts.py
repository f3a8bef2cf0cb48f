"""PNG charts of bench runs, drawn from hand-made runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nngexport.bench import Case, Run
from nngexport.bench_charts import write_charts
from nngexport.errors import UsageError

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIB = 2**20


def case(workload: str, workers: int, *, chunk_rows: int = 10_000) -> Case:
    return Case(
        workload, f"synthetic:?rows=50000&w={workers}", 50_000, chunk_rows, workers
    )


def run(
    case: Case,
    design: str,
    seconds: float,
    *,
    worker_rss: int = 60 * MIB,
    redis_peak: int | None = None,
    error: str | None = None,
) -> Run:
    return Run(
        case,
        design,
        seconds,
        bytes=5_000_000,
        chunks=5,
        sha256="ab" * 32,
        reissued=0,
        coordinator_rss=40 * MIB,
        worker_rss=worker_rss,
        redis_peak=redis_peak,
        error=error,
    )


def realistic_runs() -> list[Run]:
    runs: list[Run] = []
    for workers in (1, 2):
        here = case("realistic", workers)
        runs += [
            run(here, "in-process", 2.0, worker_rss=0),
            run(here, "in-process", 2.2, worker_rss=0),
            run(here, "nng-ipc", 2.4 / workers),
            run(here, "redis-streams", 3.0 / workers, redis_peak=12_000_000),
        ]
    failed = case("realistic", 2)
    runs.append(run(failed, "nng-tcp", 0.0, error="no workers answered"))
    return runs


def control_runs() -> list[Run]:
    here = case("control", 2, chunk_rows=1)
    return [run(here, "in-process", 0.5, worker_rss=0), run(here, "nng-ipc", 1.5)]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the PNG signature."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), path
    assert data[12:16] == b"IHDR", path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_every_chart_is_written_as_a_png(tmp_path: Path) -> None:
    written = write_charts([*realistic_runs(), *control_runs()], tmp_path)
    assert written == [
        tmp_path / "throughput.png",
        tmp_path / "scaling.png",
        tmp_path / "memory.png",
    ]
    for path in written:
        width, height = png_size(path)
        assert 400 <= width <= 4000, (path, width)
        assert 300 <= height <= 2000, (path, height)
    assert sorted(tmp_path.iterdir()) == sorted(written)


def test_without_realistic_runs_there_is_no_scaling_chart(tmp_path: Path) -> None:
    written = write_charts(control_runs(), tmp_path)
    assert [path.name for path in written] == ["throughput.png", "memory.png"]
    assert not (tmp_path / "scaling.png").exists()


def test_realistic_runs_of_in_process_alone_draw_no_scaling_chart(
    tmp_path: Path,
) -> None:
    runs = [r for r in realistic_runs() if r.design == "in-process"]
    written = write_charts(runs, tmp_path)
    assert "scaling.png" not in [path.name for path in written]


def test_no_runs_write_no_charts(tmp_path: Path) -> None:
    assert write_charts([], tmp_path / "charts") == []
    assert not (tmp_path / "charts").exists()


def test_only_failed_runs_write_no_charts(tmp_path: Path) -> None:
    runs = [r for r in realistic_runs() if r.error]
    assert runs
    assert write_charts(runs, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_the_chart_directory_is_created(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    written = write_charts(control_runs(), directory)
    assert written
    assert all(path.parent == directory for path in written)


def test_missing_matplotlib_is_a_usage_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes the import raise ImportError.
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UsageError, match=r"pip install 'nngexport\[plots\]'"):
        write_charts(control_runs(), tmp_path)
    assert list(tmp_path.iterdir()) == []
