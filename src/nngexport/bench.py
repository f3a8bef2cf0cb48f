"""``nngexport bench``: the same exports over every design, side by side.

Each run is a fresh ``nngexport export`` process (with its own local
workers, and for a Redis design its own private redis-server), so that peak
memory belongs to that run alone: the coordinator's from its own ``VmHWM``
(``--summary-json``), the largest worker's from the workers' ``VmHWM``
read while they run, Redis's from ``INFO memory``. Designs are run in
turn within each repeat, starting one further along each time, so that
drift of the machine hits
them all alike. Every file is checked against the in-process export of the
same case by SHA-256, and a file that differs is compared row by row to
count the rows lost and doubled.

Beyond the timed runs, a bench can make two more passes over the cases:
one run of each design with ``tracemalloc`` on in the coordinator
(``--trace-allocations``: slower, so never timed), and with ``fault`` set,
runs in which one local worker is killed (SIGKILL) once about a third of
the file is written, to count the chunks re-issued and the time to recover.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from .defaults import BENCH_BEGIN, BENCH_END, BENCH_FAULTS, WORKLOADS
from .demo import demo_source_url
from .demo_data import ensure_demo_database
from .designs.redis_server import RedisServer
from .errors import OutputError, UsageError
from .output import part_path
from .terminal import children_of, peak_rss_of

#: The workloads whose cases a fault run repeats.
FAULT_WORKLOADS = ("realistic",)
#: Workloads run once whatever the repeat count, and never traced: their
#: figure is a peak of memory, not a time, and they are long.
ONCE_WORKLOADS = ("memory",)
#: Share of the reference file written when the fault strikes.
FAULT_AT = 1 / 3


@dataclass(frozen=True, slots=True)
class Case:
    """One export to run with every design."""

    workload: str
    source: str
    rows: int
    chunk_rows: int
    workers: int
    #: Bytes of one row, for the transport workload (else 0).
    row_bytes: int = 0

    @property
    def label(self) -> str:
        rows = f"{self.rows:,} rows"
        if self.row_bytes:
            rows = f"{self.rows:,} blocks of {_size(self.row_bytes)}"
        return (
            f"{self.workload}: {rows}, chunks of {self.chunk_rows:,},"
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
    #: Rows of the reference missing from the file, and rows in it too often.
    rows_lost: int = 0
    rows_doubled: int = 0
    #: ``"kill-worker"`` for a run with a fault, else ``None``.
    fault: str | None = None
    #: Workers the fault killed (0 if the export ended first).
    killed: int = 0
    #: Seconds from a lost worker's last sign of life to each re-send.
    recoveries: tuple[float, ...] = ()
    #: Python memory the coordinator held at most, and still held at the
    #: end, above what it held at the start (tracemalloc), in bytes.
    traced_peak: int | None = None
    traced_retained: int | None = None

    @property
    def timed(self) -> bool:
        """Whether this run's time counts: no fault and no tracemalloc."""
        return self.fault is None and self.traced_peak is None and not self.error


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
        elif workload == "transport":
            # Pre-rendered rows: the transport, not the CSV writer, is timed.
            total = 2**25 if quick else 2**29
            cases += [
                Case(
                    workload,
                    f"blocks:?count={total // size}&size={size}",
                    total // size,
                    1,
                    2,
                    row_bytes=size,
                )
                for size in (2**16, 2**20)
            ]
        elif workload == "control":
            # Near-empty chunks: how many a coordinator can schedule a second.
            rows = 300 if quick else 20_000
            cases.append(Case(workload, f"synthetic:?rows={rows}", rows, 1, 2))
        elif workload == "sweep":
            rows = 100_000 if quick else 1_000_000
            sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
            cases += [
                Case(workload, f"synthetic:?rows={rows}", rows, size, 2)
                for size in sizes
            ]
        elif workload == "memory":
            # Coordinator memory must not grow with the table.
            sizes = (100_000, 1_000_000) if quick else (1_000_000, 10_000_000)
            cases += [
                Case(workload, f"synthetic:?rows={rows}", rows, 10_000, 2)
                for rows in sizes
            ]
        else:
            raise UsageError(
                f"unknown workload {workload!r}; choose from {', '.join(WORKLOADS)}"
            )
    return cases


async def run_case(
    case: Case,
    design: str,
    scratch: Path,
    *,
    reference: Reference | None = None,
    trace: bool = False,
    fault: str | None = None,
    keep: Path | None = None,
) -> Run:
    """Export ``case`` once with ``design`` in a fresh process.

    A file that differs from ``reference`` is compared with it row by row.
    ``trace`` turns on tracemalloc in the coordinator; ``fault`` kills a
    worker once :data:`FAULT_AT` of ``reference``'s bytes are written. The
    output is deleted, or moved to ``keep``.
    """
    if fault is not None and (fault not in BENCH_FAULTS or reference is None):
        raise ValueError(f"fault {fault!r} needs a reference file")
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
    if trace:
        command.append("--trace-allocations")
    server: RedisServer | None = None
    worker_peaks: dict[int, int] = {}
    killed: list[int] = []
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
        async with trio.open_nursery() as nursery:
            process = await nursery.start(_run_process, command)
            nursery.start_soon(_watch_workers, process, worker_peaks)
            if fault is not None and reference is not None:
                threshold = FAULT_AT * reference.size
                nursery.start_soon(
                    _kill_a_worker, process, part_path(output), threshold, killed
                )
        redis_peak = await trio.to_thread.run_sync(_redis_peak, server)
    finally:
        if server is not None:
            server.kill()
    stderr = process.stderr_text
    if process.returncode != 0:
        output.unlink(missing_ok=True)
        said = stderr.strip().splitlines()
        error = said[-1] if said else f"exit status {process.returncode}"
        return Run(
            case, design, 0.0, 0, 0, "", 0, 0, 0, redis_peak, error=error, fault=fault
        )
    record = json.loads(summary_path.read_text())
    summary_path.unlink()
    lost = doubled = 0
    if reference is not None:
        lost, doubled = await trio.to_thread.run_sync(
            _differences, reference, output, record["sha256"]
        )
    if keep is not None:
        output.replace(keep)
    else:
        output.unlink()
    return Run(
        case,
        design,
        record["seconds"],
        record["bytes"],
        record["chunks"],
        record["sha256"],
        record["reissued"],
        record["coordinator_peak_rss"],
        max(worker_peaks.values(), default=0),
        redis_peak,
        record["latency_p50"],
        record["latency_p99"],
        rows_lost=lost,
        rows_doubled=doubled,
        fault=fault,
        killed=len(killed),
        recoveries=tuple(record["recoveries"]),
        traced_peak=record.get("traced_peak"),
        traced_retained=record.get("traced_retained"),
    )


class _Process:
    """A finished child's exit status and what it wrote to stderr."""

    def __init__(self, process: trio.Process) -> None:
        self.pid = process.pid
        self._process = process
        self.stderr_text = ""

    @property
    def returncode(self) -> int | None:
        return self._process.returncode


async def _run_process(
    command: list[str], *, task_status: trio.TaskStatus[_Process]
) -> None:
    # Started this way (not with trio.run_process) so that a fault can find
    # the process's children while it runs.
    process = await trio.lowlevel.open_process(command, stderr=subprocess.PIPE)
    handle = _Process(process)
    task_status.started(handle)
    chunks: list[bytes | bytearray] = []
    try:
        assert process.stderr is not None
        async with process.stderr:
            while data := await process.stderr.receive_some():
                chunks.append(data)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
    handle.stderr_text = b"".join(chunks).decode(errors="replace")


async def _kill_a_worker(
    process: _Process, part: Path, threshold: float, killed: list[int]
) -> None:
    """SIGKILL one of ``process``'s children once ``part`` holds ``threshold`` bytes.

    The file's size is the export's own progress, read from outside: a
    measurement, so it is polled. The pid killed is appended to ``killed``.
    """
    while process.returncode is None:
        try:
            written = (await trio.Path(part).stat()).st_size
        except FileNotFoundError:
            written = 0
        if written >= threshold:
            children = children_of(process.pid)
            if children:
                victim = random.choice(children)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                return
        await trio.sleep(0.01)


async def _watch_workers(process: _Process, peaks: dict[int, int]) -> None:
    """Record the peak memory (VmHWM) of each child of ``process`` while it runs.

    ``getrusage`` cannot tell: on Linux a child's ``ru_maxrss`` includes the
    memory it was forked with. VmHWM only grows, so the last reading before
    a worker exits is its peak, to within one poll.
    """
    while process.returncode is None:
        for child in children_of(process.pid):
            peak = peak_rss_of(child)
            if peak is not None:
                peaks[child] = max(peak, peaks.get(child, 0))
        await trio.sleep(0.05)


@dataclass(frozen=True, slots=True)
class Reference:
    """A case's in-process export, kept to check the other designs' files."""

    path: Path
    sha256: str
    size: int

    @classmethod
    def of(cls, path: Path) -> Reference:
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        return cls(path, digest, path.stat().st_size)


def _differences(reference: Reference, output: Path, sha256: str) -> tuple[int, int]:
    if reference.sha256 == sha256:
        return 0, 0
    from .faults import compare_rows

    return compare_rows(reference.path, output)


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
    trace: bool = False,
    fault: str | None = None,
    on_run: Callable[[Run], object] | None = None,
) -> list[Run]:
    """Every case with every design, ``repeat`` times, designs in turn.

    ``designs`` must start with ``"in-process"``: its first run of each case
    is kept as the reference the others are checked against. The cases of
    :data:`ONCE_WORKLOADS` run once. Then, with ``trace``, one traced run of
    each other case and design; with ``fault``,
    ``repeat`` runs with that fault of each design other than in-process, for
    the cases of :data:`FAULT_WORKLOADS` with two or more workers.
    """
    if not designs or designs[0] != "in-process":
        raise ValueError("the designs must start with 'in-process', the reference")
    if fault is not None and fault not in BENCH_FAULTS:
        raise UsageError(
            f"unknown fault {fault!r}; choose from {', '.join(BENCH_FAULTS)}"
        )
    runs: list[Run] = []
    references: dict[Case, Reference] = {}
    with tempfile.TemporaryDirectory(prefix="nngexport-bench-") as scratch:
        here = Path(scratch)

        async def run(
            case: Case, design: str, *, trace: bool = False, fault: str | None = None
        ) -> None:
            keep = None
            if design == "in-process" and case not in references:
                keep = here / f"reference-{len(references)}.csv"
            done = await run_case(
                case,
                design,
                Path(tempfile.mkdtemp(dir=here)),
                reference=references.get(case),
                keep=keep,
                trace=trace,
                fault=fault,
            )
            if keep is not None and not done.error:
                references[case] = await trio.to_thread.run_sync(Reference.of, keep)
            runs.append(done)
            if on_run is not None:
                on_run(done)

        for round_ in range(repeat):
            shift = round_ % len(designs)
            order = [*designs[shift:], *designs[:shift]]
            for case in cases:
                if round_ and case.workload in ONCE_WORKLOADS:
                    continue
                for design in order:
                    await run(case, design)
        if trace:
            for case in cases:
                if case.workload in ONCE_WORKLOADS:
                    continue
                for design in designs:
                    await run(case, design, trace=True)
        if fault is not None:
            for _ in range(repeat):
                for case in cases:
                    if case.workers < 2 or case.workload not in FAULT_WORKLOADS:
                        continue
                    if case not in references:
                        continue
                    for design in designs[1:]:
                        await run(case, design, fault=fault)
    return runs


def report(runs: Sequence[Run], *, command: str, charts: Sequence[Path] = ()) -> str:
    """The runs as Markdown: the machine, the command, the tables, the targets."""
    lines = [
        "## `nngexport bench`",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPUs ({_cpu_model()}), Linux"
        f" {platform.release()}; Python {platform.python_version()};"
        f" {_versions()}.",
        "",
        'Each figure is the median over the runs; "identical" counts the files'
        " whose SHA-256 is the in-process export's; a file that differs is"
        " compared row by row (lost, doubled). Chunk latency is dispatch to"
        " written. Peaks are the largest of the runs.",
        "",
    ]
    for chart in charts:
        lines += [f"![{chart.stem}]({chart.as_posix()})", ""]
    lines += _speed_tables(runs)
    lines += _allocation_table(runs)
    lines += _fault_table(runs)
    lines += _target_table(runs)
    return "\n".join(lines)


def splice_report(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, between its bench markers if it has them.

    Writes a temporary file and renames it, so the file is never half written.
    """
    body = text + "\n"
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = ""
    except OSError as exc:
        raise OutputError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    begin, end = old.find(BENCH_BEGIN), old.find(BENCH_END)
    if 0 <= begin < end:
        body = old[: begin + len(BENCH_BEGIN)] + "\n" + body + old[end:]
    temporary = path.with_name(path.name + ".part")
    try:
        temporary.write_text(body, encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write {str(path)!r}: {exc.strerror or exc}"
        ) from None


def _speed_tables(runs: Sequence[Run]) -> list[str]:
    lines: list[str] = []
    timed = [r for r in runs if r.fault is None and r.traced_peak is None]
    for case in dict.fromkeys(run.case for run in timed):
        mine = [run for run in timed if run.case == case]
        base = [r.seconds for r in mine if r.design == "in-process" and not r.error]
        lines += [
            f"### {case.label}",
            "",
            "| design | runs | median s | rows/s | MB/s | speed-up |"
            " chunks/s | chunk latency p50 / p99 ms |"
            " coordinator peak MiB | worker peak MiB | Redis peak MB |"
            " identical | lost / doubled rows | re-issued |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
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
            peaks = [r.redis_peak for r in done if r.redis_peak is not None]
            redis_peak = f"{max(peaks) / 1e6:,.1f}" if peaks else "-"
            coordinator = max(r.coordinator_rss for r in done) / 2**20
            worker = max(r.worker_rss for r in done) / 2**20
            lines.append(
                f"| {design} | {len(done) + len(failed)} | {seconds:.2f} |"
                f" {case.rows / seconds:,.0f} | {megabytes / seconds:,.1f} |"
                f" {speedup:.2f}x | {done[0].chunks / seconds:,.0f} |"
                f" {_latency(done)} | {coordinator:,.0f} | {worker:,.0f} |"
                f" {redis_peak} | {_identical(done)}/{len(done)} |"
                f" {sum(r.rows_lost for r in done)} /"
                f" {sum(r.rows_doubled for r in done)} |"
                f" {sum(r.reissued for r in done)} |"
            )
        lines.append("")
    return lines


def _identical(runs: Sequence[Run]) -> int:
    return sum(not r.error and not r.rows_lost and not r.rows_doubled for r in runs)


def _allocation_table(runs: Sequence[Run]) -> list[str]:
    traced = [r for r in runs if r.traced_peak is not None and not r.error]
    if not traced:
        return []
    lines = [
        "### Coordinator allocations (tracemalloc, one untimed run each)",
        "",
        "Python memory the coordinator process held at most, and still held",
        "after the export and a garbage collection, above what it held when",
        "tracing began (lazily imported modules count as retained).",
        "",
        "| case | design | chunks | held at most MiB | held at most per chunk KiB |"
        " retained KiB | retained per chunk B |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in traced:
        peak = run.traced_peak or 0
        retained = run.traced_retained or 0
        chunks = max(run.chunks, 1)
        lines.append(
            f"| {run.case.label} | {run.design} | {run.chunks:,} |"
            f" {peak / 2**20:,.1f} | {peak / chunks / 1024:,.1f} |"
            f" {retained / 1024:,.1f} | {retained / chunks:,.0f} |"
        )
    return [*lines, ""]


def _fault_table(runs: Sequence[Run]) -> list[str]:
    hurt = [r for r in runs if r.fault is not None]
    if not hurt:
        return []
    lines = [
        f"### With a fault: one worker killed (SIGKILL) once {FAULT_AT:.0%} of the"
        " file was written",
        "",
        "Recovery is the time from the killed worker's last sign of life to the",
        "re-send of each chunk it held, over every re-sent chunk of the runs.",
        "",
        "| case | design | runs | workers killed | identical | lost / doubled rows |"
        " re-issued per run | recovery median / worst s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in dict.fromkeys(r.case for r in hurt):
        for design in dict.fromkeys(r.design for r in hurt if r.case == case):
            mine = [r for r in hurt if r.case == case and r.design == design]
            done = [r for r in mine if not r.error]
            recoveries = [t for r in done for t in r.recoveries]
            recovery = (
                f"{statistics.median(recoveries):.2f} / {max(recoveries):.2f}"
                if recoveries
                else "-"
            )
            reissued = (
                statistics.median(r.reissued for r in done) if done else float("nan")
            )
            errors = sorted({r.error for r in mine if r.error})
            lines.append(
                f"| {case.label} | {design} | {len(mine)} |"
                f" {sum(r.killed for r in mine)} |"
                f" {_identical(mine)}/{len(mine)} |"
                f" {sum(r.rows_lost for r in done)} /"
                f" {sum(r.rows_doubled for r in done)} | {reissued:g} | {recovery} |"
                + (f" failed: {'; '.join(errors)} |" if errors else "")
            )
    return [*lines, ""]


def _median_of(
    runs: Sequence[Run], keep: Callable[[Run], bool], value: Callable[[Run], float]
) -> float | None:
    chosen = [value(r) for r in runs if r.timed and keep(r)]
    return statistics.median(chosen) if chosen else None


def _target_table(runs: Sequence[Run]) -> list[str]:
    """The targets of the bench, each with what this run measured."""
    rows: list[tuple[str, str, bool]] = []
    nng = ("nng-ipc", "nng-tcp")
    redis = ("redis-pubsub", "redis-streams", "redis-lists")

    def seconds(workload: str, design: str, **match: int) -> float | None:
        return _median_of(
            runs,
            lambda r: (
                r.case.workload == workload
                and r.design == design
                and all(getattr(r.case, k) == v for k, v in match.items())
            ),
            lambda r: r.seconds,
        )

    reference = seconds("realistic", "in-process", workers=2)
    rivals = {d: seconds("realistic", d, workers=2) for d in redis}
    for design in nng:
        mine = seconds("realistic", design, workers=2)
        if mine is None or reference is None:
            continue
        speedup = reference / mine
        best = {d: reference / t for d, t in rivals.items() if t is not None}
        said = ", ".join(f"{d} {x:.2f}x" for d, x in best.items())
        rows.append(
            (
                f"realistic, 2 workers: {design} >= 1.7x in-process and >= every"
                " Redis design",
                f"{speedup:.2f}x" + (f" ({said})" if said else ""),
                speedup >= 1.7 and all(speedup >= x for x in best.values()),
            )
        )
    streams = seconds("transport", "redis-streams", row_bytes=2**20)
    for design in nng:
        mine = seconds("transport", design, row_bytes=2**20)
        if mine is None or streams is None:
            continue
        rows.append(
            (
                f"transport, 1 MiB chunks: {design} >= 2x redis-streams in MB/s",
                f"{streams / mine:.2f}x",
                streams / mine >= 2,
            )
        )
    streams = seconds("control", "redis-streams")
    for design in nng:
        mine = seconds("control", design)
        if mine is None or streams is None:
            continue
        rows.append(
            (
                f"control plane: {design} chunks/s >= redis-streams",
                f"{streams / mine:.2f}x",
                mine <= streams,
            )
        )
    memory = [r for r in runs if r.timed and r.case.workload == "memory"]
    sizes = sorted({r.case.rows for r in memory})
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for design in dict.fromkeys(r.design for r in memory):
            peaks = {
                n: max(
                    (
                        r.coordinator_rss
                        for r in memory
                        if r.design == design and r.case.rows == n
                    ),
                    default=0,
                )
                for n in (small, large)
            }
            if not all(peaks.values()):
                continue
            ratio = peaks[large] / peaks[small]
            rows.append(
                (
                    f"memory: {design} coordinator peak at {large:,} rows within"
                    f" 10% of {small:,} rows, under 150 MB",
                    f"{peaks[large] / 2**20:,.0f} MiB vs {peaks[small] / 2**20:,.0f}"
                    f" MiB ({ratio - 1:+.0%})",
                    ratio <= 1.1 and peaks[large] < 150e6,
                )
            )
    hurt = [r for r in runs if r.fault is not None and not r.error]
    for design in dict.fromkeys(r.design for r in hurt):
        recoveries = [t for r in hurt if r.design == design for t in r.recoveries]
        if not recoveries:
            continue
        median = statistics.median(recoveries)
        rows.append(
            (
                f"recovery: {design} re-issues a killed worker's chunks within"
                " 1.5 s (median)",
                f"{median:.2f} s over {len(recoveries)} chunks",
                median <= 1.5,
            )
        )
    if not rows:
        return []
    lines = ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in rows]
    return [*lines, ""]


def _size(count: int) -> str:
    if count % 2**20 == 0:
        return f"{count // 2**20} MiB"
    if count % 2**10 == 0:
        return f"{count // 2**10} KiB"
    return f"{count:,} B"


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
