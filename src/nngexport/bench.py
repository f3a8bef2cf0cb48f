"""``nngexport bench``: the same exports over every design, side by side.

Each run is a fresh ``nngexport export`` process (with its own local
workers, and for a Redis design its own private redis-server), so that peak
memory belongs to that run alone: the coordinator's and its largest
worker's come from ``getrusage`` in that process (``--summary-json``),
Redis's from ``INFO memory``. Designs are run in turn within each repeat,
starting one further along each time, so that drift of the machine hits
them all alike. Every file is checked against the in-process export of the
same case by SHA-256.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from .demo import demo_source_url
from .demo_data import ensure_demo_database
from .designs.redis_server import RedisServer
from .errors import UsageError

#: The designs a bench compares, the in-process reference first.
BENCH_DESIGNS = (
    "in-process",
    "nng-ipc",
    "nng-tcp",
    "redis-pubsub",
    "redis-streams",
    "redis-lists",
)
#: The workloads it knows.
WORKLOADS = ("realistic", "control", "sweep")


@dataclass(frozen=True, slots=True)
class Case:
    """One export to run with every design."""

    workload: str
    source: str
    rows: int
    chunk_rows: int
    workers: int

    @property
    def label(self) -> str:
        return (
            f"{self.workload}: {self.rows:,} rows, chunks of {self.chunk_rows:,},"
            f" {self.workers} worker(s)"
        )


@dataclass(frozen=True, slots=True)
class Run:
    """What one export of one case with one design measured."""

    case: Case
    design: str
    seconds: float
    bytes: int
    chunks: int
    sha256: str
    reissued: int
    coordinator_rss: int
    worker_rss: int
    redis_peak: int | None
    latency_p50: float | None = None
    latency_p99: float | None = None
    error: str | None = None


def plan_cases(
    workloads: Sequence[str], *, workers: Sequence[int], quick: bool
) -> list[Case]:
    """The cases of ``workloads``; ``quick`` makes them small enough for a test."""
    cases: list[Case] = []
    for workload in workloads:
        if workload == "realistic":
            rows = 50_000 if quick else 1_000_000
            database = ensure_demo_database(rows)
            cases += [
                Case(workload, demo_source_url(database), rows, 10_000, n)
                for n in workers
            ]
        elif workload == "control":
            # Near-empty chunks: how many a coordinator can schedule a second.
            rows = 300 if quick else 5_000
            cases.append(Case(workload, f"synthetic:?rows={rows}", rows, 1, 2))
        elif workload == "sweep":
            rows = 100_000 if quick else 1_000_000
            sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
            cases += [
                Case(workload, f"synthetic:?rows={rows}", rows, size, 2)
                for size in sizes
            ]
        else:
            raise UsageError(
                f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}"
            )
    return cases


async def run_case(case: Case, design: str, scratch: Path) -> Run:
    """Export ``case`` once with ``design`` in a fresh process."""
    output = scratch / "out.csv"
    summary_path = scratch / "summary.json"
    command = [
        sys.executable,
        "-m",
        "nngexport",
        "export",
        case.source,
        str(output),
        "--chunk-rows",
        str(case.chunk_rows),
        "--workers",
        "0" if design == "in-process" else str(case.workers),
        "--quiet",
        "--summary-json",
        str(summary_path),
    ]
    server: RedisServer | None = None
    if design == "nng-tcp":
        command += ["--listen", "tcp://127.0.0.1:0"]
    elif design.startswith("redis-"):
        binary = shutil.which("redis-server")
        if binary is None:
            raise UsageError(
                f"design {design!r} needs redis-server on PATH; leave it out with"
                " --designs"
            )
        directory = Path(tempfile.mkdtemp(dir=scratch))
        server = RedisServer(binary, directory)
        await trio.to_thread.run_sync(server.start)
        command += ["--design", design, "--redis", server.url]
    try:
        result = await trio.run_process(command, capture_stderr=True, check=False)
        redis_peak = await trio.to_thread.run_sync(_redis_peak, server)
    finally:
        if server is not None:
            server.kill()
    output.unlink(missing_ok=True)
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip().splitlines()
        error = said[-1] if said else f"exit status {result.returncode}"
        return Run(case, design, 0.0, 0, 0, "", 0, 0, 0, redis_peak, error=error)
    record = json.loads(summary_path.read_text())
    summary_path.unlink()
    return Run(
        case,
        design,
        record["seconds"],
        record["bytes"],
        record["chunks"],
        record["sha256"],
        record["reissued"],
        record["coordinator_peak_rss"],
        record["worker_peak_rss"] if design != "in-process" else 0,
        redis_peak,
        record["latency_p50"],
        record["latency_p99"],
    )


def _redis_peak(server: RedisServer | None) -> int | None:
    if server is None or server.process is None:
        return None
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        return int(client.info("memory")["used_memory_peak"])
    finally:
        client.close()


async def run_bench(
    cases: Sequence[Case],
    designs: Sequence[str],
    *,
    repeat: int,
    on_run: Callable[[Run], object] | None = None,
) -> list[Run]:
    """Every case with every design, ``repeat`` times, designs in turn."""
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="nngexport-bench-") as scratch:
        for round_ in range(repeat):
            shift = round_ % len(designs)
            order = [*designs[shift:], *designs[:shift]]
            for case in cases:
                for design in order:
                    run = await run_case(case, design, Path(scratch))
                    runs.append(run)
                    if on_run is not None:
                        on_run(run)
    return runs


def report(runs: Sequence[Run], *, command: str) -> str:
    """The runs as Markdown: the machine, the command, a table per case."""
    lines = [
        "## `nngexport bench`",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPUs ({_cpu_model()}), Linux"
        f" {platform.release()}; Python {platform.python_version()};"
        f" {_versions()}.",
        "",
    ]
    cases = list(dict.fromkeys(run.case for run in runs))
    for case in cases:
        mine = [run for run in runs if run.case == case]
        references = {r.sha256 for r in mine if r.design == "in-process" and r.sha256}
        base = [r.seconds for r in mine if r.design == "in-process" and not r.error]
        lines += [
            f"### {case.label}",
            "",
            "| design | runs | median s | rows/s | MB/s | speed-up |"
            " chunk latency p50 / p99 ms |"
            " coordinator peak MiB | worker peak MiB | Redis peak MB |"
            " identical | re-issued |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for design in dict.fromkeys(r.design for r in mine):
            done = [r for r in mine if r.design == design and not r.error]
            failed = [r for r in mine if r.design == design and r.error]
            if not done:
                lines.append(
                    f"| {design} | {len(failed)} | failed: {failed[0].error} |"
                )
                continue
            seconds = statistics.median(r.seconds for r in done)
            megabytes = statistics.median(r.bytes for r in done) / 1e6
            speedup = statistics.median(base) / seconds if base else float("nan")
            identical = sum(r.sha256 in references for r in done)
            peaks = [r.redis_peak for r in done if r.redis_peak is not None]
            redis_peak = f"{max(peaks) / 1e6:,.1f}" if peaks else "-"
            latency = _latency(done)
            coordinator = max(r.coordinator_rss for r in done) / 2**20
            worker = max(r.worker_rss for r in done) / 2**20
            lines.append(
                f"| {design} | {len(done) + len(failed)} | {seconds:.2f} |"
                f" {case.rows / seconds:,.0f} | {megabytes / seconds:,.1f} |"
                f" {speedup:.2f}x | {latency} | {coordinator:,.0f} | {worker:,.0f} |"
                f" {redis_peak} | {identical}/{len(done)} |"
                f" {sum(r.reissued for r in done)} |"
            )
        lines.append("")
    return "\n".join(lines)


def _latency(runs: Sequence[Run]) -> str:
    """Median over the runs of each run's p50 and p99, in milliseconds."""
    p50 = [r.latency_p50 for r in runs if r.latency_p50 is not None]
    p99 = [r.latency_p99 for r in runs if r.latency_p99 is not None]
    if not p50 or not p99:
        return "-"
    return (
        f"{statistics.median(p50) * 1000:,.1f} / {statistics.median(p99) * 1000:,.1f}"
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("pynng", "trio", "redis", "hiredis"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)
