"""The ``nngexport`` command: export, worker and demo.

The CLI owns the terminal: it configures logging, draws the progress bar and
turns every :class:`~nngexport.errors.ExportError` into one line on stderr
and a non-zero exit status (2 for bad input, 1 for a failed export).
SIGINT and SIGTERM cancel the running command cleanly; the exit status is
then 130 or 143.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import trio

# Only what the parser and `nngexport worker` need is imported here: every
# local worker runs this module, and the coordinator, the bench and the
# Redis designs' code would cost each one about 0.07 s to import. The other
# commands import theirs when they run.
from .allow import SourcePolicy
from .auth import SECRET_ENV, SECRET_FILE_ENV, Sealer, load_secret
from .defaults import (
    BENCH_BEGIN,
    BENCH_DESIGNS,
    BENCH_END,
    BENCH_FAULTS,
    DEFAULT_PREFIX,
    DISCOVER_TIMEOUT,
    MAX_ATTEMPTS,
    WORKER_TIMEOUT,
    WORKLOADS,
)
from .designs import DESIGNS, check_design
from .endpoints import check_url
from .errors import ExportError, OutputError, SourceError, UsageError
from .malloc import fix_mmap_threshold, limit_arenas
from .plan import DEFAULT_CHUNK_ROWS
from .tls import TlsFiles, check_tls
from .worker import DEFAULT_SLOTS, default_worker_name, serve_worker

if TYPE_CHECKING:
    from .bench import Run
    from .progress import ExportSummary
    from .terminal import ProgressBar

PROG = "nngexport"
#: Exit status for bad input: a bad argument, source or output.
EXIT_USAGE = 2
#: Exit status for an export that failed for another reason.
EXIT_FAILED = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other error; --help still shows the usage.
        self.exit(EXIT_USAGE, f"{PROG}: error: {message}\n")


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _natural_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nngexport`` command."""
    parser = _Parser(
        prog=PROG,
        description="Export a big table to one CSV file with worker processes"
        " that talk NNG, with no broker in between.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-vv: debug)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    export = commands.add_parser(
        "export",
        help="export a source to a CSV file",
        description="Export SOURCE to the CSV file OUTPUT.",
    )
    export.add_argument(
        "source",
        help="sqlite:///ABS/PATH.db?table=NAME[&key=COL][&columns=a,b]"
        " or synthetic:?rows=N[&seed=S]",
    )
    export.add_argument("output", help="the CSV file to write")
    export.add_argument(
        "--workers",
        type=_natural_int,
        default=os.cpu_count() or 1,
        help="local worker processes to start; 0 renders in this process"
        " (default: one per CPU, %(default)s here)",
    )
    _add_export_options(export)
    export.add_argument(
        "--listen",
        metavar="URL",
        help="address for workers to dial, e.g. tcp://0.0.0.0:5555 so workers"
        " on other machines can join (default: a private ipc:// address)",
    )
    export.add_argument(
        "--min-workers",
        type=_positive_int,
        help="workers to wait for before starting (default: --workers, or 1)",
    )
    export.add_argument(
        "--slots",
        type=_positive_int,
        default=DEFAULT_SLOTS,
        help="chunks each local worker renders at once (default: %(default)s)",
    )
    export.add_argument(
        "--discover-timeout",
        type=_seconds,
        default=DISCOVER_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for --min-workers (default: %(default)s)",
    )
    export.add_argument(
        "--worker-timeout",
        type=_seconds,
        default=WORKER_TIMEOUT,
        metavar="SECONDS",
        help="fail after this long with no live worker (default: %(default)s)",
    )
    export.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=MAX_ATTEMPTS,
        metavar="N",
        help="times a chunk may fail or lose its worker before the export fails"
        " (default: %(default)s)",
    )
    _add_design_options(export)
    _add_security_options(export)
    export.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted export to OUTPUT from its journal",
    )
    export.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar, no summary"
    )
    export.add_argument(
        "--summary-json",
        metavar="PATH",
        help="also write the summary, with this process's and its workers'"
        " peak memory, as JSON to PATH (for scripts and benchmarks)",
    )
    export.add_argument(
        "--trace-allocations",
        action="store_true",
        help="trace this process's Python allocations with tracemalloc (slower);"
        " with --summary-json, adds the most held and what remained after",
    )

    worker = commands.add_parser(
        "worker",
        help="serve as a worker for a coordinator",
        description="Render chunks for the coordinator at URL until stopped.",
    )
    worker.add_argument(
        "--connect",
        metavar="URL",
        help="the coordinator's address (with --design nng, the default)",
    )
    _add_design_options(worker)
    worker.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a source this worker may open, as a glob: a SQLite file path"
        " (/data/*.db) or a URL (synthetic:*); repeat for more. Descriptors for"
        " any other source are refused. Without --allow, nothing is allowed",
    )
    _add_security_options(worker)
    worker.add_argument(
        "--slots",
        type=_positive_int,
        default=DEFAULT_SLOTS,
        help="chunks to render at once (default: %(default)s)",
    )
    worker.add_argument("--name", help="worker name in logs (default: host-pid-xxxx)")
    worker.add_argument(
        "--exit-on-stdin-eof", action="store_true", help=argparse.SUPPRESS
    )

    bench = commands.add_parser(
        "bench",
        help="run the same exports over every design and compare",
        description="Export the same data with every design, in turn, and"
        " write a Markdown report: speed, peak memory (coordinator, workers,"
        " Redis) and whether each file is identical to the in-process one.",
    )
    bench.add_argument(
        "--workloads",
        nargs="+",
        choices=WORKLOADS,
        default=["realistic"],
        help="what to export (default: %(default)s)",
    )
    bench.add_argument(
        "--designs",
        nargs="+",
        choices=BENCH_DESIGNS,
        default=list(BENCH_DESIGNS),
        help="which designs (default: all; the Redis ones need redis-server)",
    )
    bench.add_argument(
        "--workers",
        nargs="+",
        type=_positive_int,
        default=[1, 2, 4],
        help="worker counts for the realistic workload (default: 1 2 4)",
    )
    bench.add_argument(
        "--repeat", type=_positive_int, default=3, help="runs of each (default: 3)"
    )
    bench.add_argument(
        "--quick", action="store_true", help="small data: checks the harness only"
    )
    bench.add_argument(
        "--trace-allocations",
        action="store_true",
        help="also run each case and design once, untimed, with tracemalloc on in"
        " the coordinator, and report its Python allocations",
    )
    bench.add_argument(
        "--fault",
        choices=BENCH_FAULTS,
        help="also run the realistic cases with this fault (kill-worker:"
        " SIGKILL one worker a third of the way in) and report re-issues and"
        " recovery",
    )
    bench.add_argument(
        "--report",
        metavar="PATH",
        help="write the report here (default: stdout); if PATH already holds the"
        f" lines {BENCH_BEGIN!r} and {BENCH_END!r}, only what lies between them"
        " is replaced",
    )
    bench.add_argument(
        "--charts",
        metavar="DIR",
        help="also draw PNG charts (throughput, scaling, memory) into DIR; needs"
        " matplotlib (pip install 'nngexport[plots]')",
    )

    demo = commands.add_parser(
        "demo",
        help="export a generated SQLite table with local workers and compare",
        description="Build (once) a SQLite table, export it with local workers"
        " and in-process, check that both files are identical, and report"
        " the speed-up.",
    )
    demo.add_argument(
        "--rows",
        type=_positive_int,
        default=1_000_000,
        help="rows in the demo table (default: %(default)s)",
    )
    demo.add_argument(
        "--workers",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="local worker processes (default: one per CPU, %(default)s here)",
    )
    _add_export_options(demo)
    demo.add_argument(
        "--output",
        default="nngexport-demo.csv",
        help="where to write the export (default: %(default)s)",
    )
    return parser


def _add_export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=DEFAULT_CHUNK_ROWS,
        metavar="R",
        help="rows per chunk (default: %(default)s)",
    )


def _add_design_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--design",
        choices=DESIGNS,
        default="nng",
        help="the transport: brokerless NNG, or one of the Redis designs"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="the Redis server of a Redis design, e.g. redis://127.0.0.1:6379/0",
    )
    parser.add_argument(
        "--redis-prefix",
        default=DEFAULT_PREFIX,
        metavar="PREFIX",
        help="prefix of the Redis keys; two exports on one Redis need two"
        " (default: %(default)s)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nngexport`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    fix_mmap_threshold()
    limit_arenas()
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format=f"{PROG}: %(levelname)s %(name)s: %(message)s",
    )
    commands: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
        "export": _export,
        "worker": _worker,
        "demo": _demo,
        "bench": _bench,
    }
    return trio.run(_run_command, commands[args.command], args)


def _add_security_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secret-file",
        metavar="PATH",
        help="shared-secret mode (NNG): seal every message with the key in PATH"
        f" (or in ${SECRET_FILE_ENV}'s file, or in ${SECRET_ENV}); never give"
        " the key itself on the command line",
    )
    parser.add_argument(
        "--tls-cert", metavar="PEM", help="this side's TLS certificate (tls+tcp://)"
    )
    parser.add_argument("--tls-key", metavar="PEM", help="its private key")
    parser.add_argument(
        "--tls-ca", metavar="PEM", help="the CA whose certificates peers must show"
    )


def _security(args: argparse.Namespace) -> tuple[Sealer | None, TlsFiles | None]:
    """The shared secret and TLS files the options (and environment) name."""
    tls = TlsFiles.of(args.tls_cert, args.tls_key, args.tls_ca)
    if args.design != "nng":
        if args.secret_file or tls is not None:
            raise UsageError(
                "--secret-file and --tls-* are for --design nng; secure a Redis"
                " design with Redis's own AUTH and TLS"
            )
        return None, None
    return load_secret(args.secret_file), tls


async def _run_command(
    command: Callable[[argparse.Namespace], Awaitable[int]], args: argparse.Namespace
) -> int:
    caught: list[int] = []
    status = 0
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for signum in signals:
                    caught.append(signum)
                    nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_signal)
            try:
                status = await command(args)
            except ExportError as exc:
                print(f"{PROG}: error: {exc}", file=sys.stderr)
                status = _status_of(exc)
            nursery.cancel_scope.cancel()
    if caught:
        name = signal.Signals(caught[0]).name
        print(f"{PROG}: stopped by {name}", file=sys.stderr)
        return 128 + caught[0]
    return status


def _status_of(error: ExportError) -> int:
    if isinstance(error, UsageError | SourceError | OutputError):
        return EXIT_USAGE
    return EXIT_FAILED


async def _export(args: argparse.Namespace) -> int:
    from .allocations import AllocationTrace
    from .terminal import ProgressBar, describe_summary, write_summary_json

    bar = None if args.quiet else ProgressBar.for_stderr()
    with AllocationTrace(enabled=args.trace_allocations) as trace:
        summary = await _run_export(args, bar)
    if bar:
        bar.finish()
    if not args.quiet:
        print(describe_summary(summary), file=sys.stderr)
    if args.summary_json:
        await trio.to_thread.run_sync(
            partial(write_summary_json, summary, args.summary_json, traced=trace.result)
        )
    return 0


async def _run_export(
    args: argparse.Namespace, bar: ProgressBar | None
) -> ExportSummary:
    from .api import run_export

    secret, tls = await trio.to_thread.run_sync(_security, args)
    return await run_export(
        args.source,
        args.output,
        workers=args.workers,
        chunk_rows=args.chunk_rows,
        listen=args.listen,
        min_workers=args.min_workers,
        slots=args.slots,
        discover_timeout=args.discover_timeout,
        worker_timeout=args.worker_timeout,
        max_attempts=args.max_attempts,
        resume=args.resume,
        design=args.design,
        redis=args.redis,
        redis_prefix=args.redis_prefix,
        secret=secret,
        tls=tls,
        on_progress=bar.update if bar else None,
    )


async def _worker(args: argparse.Namespace) -> int:
    # Checked here, outside the nursery, so bad input is a plain one-line error.
    check_design(args.design, args.redis)
    if args.design == "nng":
        if args.connect is None:
            raise UsageError("a worker needs --connect URL (or a Redis --design)")
        check_url(args.connect, what="coordinator address")
    elif args.connect is not None:
        raise UsageError("--connect is for --design nng; Redis designs use --redis")
    else:
        from .designs.redis_common import RedisBridge

        RedisBridge(args.redis).close()
    if not args.allow:
        raise UsageError(
            "a worker needs --allow PATTERN for each source it may open, e.g."
            " --allow '/data/*.db' or --allow 'synthetic:*'"
        )
    SourcePolicy(args.allow)
    secret, tls = _security(args)
    if args.connect is not None:
        check_tls(args.connect, tls, what="coordinator address")
    if tls is not None:
        tls.read()
    async with trio.open_nursery() as nursery:
        if args.exit_on_stdin_eof:
            nursery.start_soon(_exit_on_stdin_eof)
        if args.connect is not None:
            await serve_worker(
                args.connect,
                slots=args.slots,
                name=args.name,
                allow=args.allow,
                secret=secret,
                tls=tls,
            )
        else:
            from .designs.redis_worker import serve_redis_worker

            await serve_redis_worker(
                args.design,
                args.redis,
                slots=args.slots,
                name=args.name or default_worker_name(),
                prefix=args.redis_prefix,
                allow=args.allow,
            )
    return 0


async def _exit_on_stdin_eof() -> None:
    # The coordinator that started us holds the other end; when it is done
    # or dies, the kernel closes it and we read end-of-file. Nothing we hold
    # is of use to anyone then, so exit at once: a graceful stop waits for
    # every socket loop's timeout, which cost each export about 0.4 s at its
    # end. The process's exit closes the sockets, so no NNG operation is
    # cancelled or closed under a pending one (see nngexport._nng).
    stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with stream:
        while await stream.receive_some():
            pass
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def _bench(args: argparse.Namespace) -> int:
    from .bench import plan_cases, report, run_bench, splice_report
    from .bench_charts import require_matplotlib, write_charts

    if args.charts:
        require_matplotlib()
    designs = list(dict.fromkeys(["in-process", *args.designs]))
    cases = await trio.to_thread.run_sync(
        lambda: plan_cases(args.workloads, workers=args.workers, quick=args.quick)
    )

    def progress(run: Run) -> None:
        outcome = run.error or f"{run.seconds:.2f} s"
        print(f"{run.case.label}: {run.design}: {outcome}", file=sys.stderr)

    runs = await run_bench(
        cases,
        designs,
        repeat=args.repeat,
        trace=args.trace_allocations,
        fault=args.fault,
        on_run=progress,
    )
    charts: list[Path] = []
    if args.charts:
        charts = await trio.to_thread.run_sync(
            write_charts, [run for run in runs if run.timed], Path(args.charts)
        )
    command = " ".join(["nngexport", *sys.argv[1:]])
    if args.report:
        where = Path(args.report).parent.resolve()
        linked = [_relative(chart, where) for chart in charts]
        text = report(runs, command=command, charts=linked)
        await trio.to_thread.run_sync(splice_report, Path(args.report), text)
    else:
        print(report(runs, command=command, charts=charts))
    failed = [run for run in runs if run.error]
    return 1 if failed else 0


def _relative(path: Path, start: Path) -> Path:
    return Path(os.path.relpath(path.resolve(), start))


async def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return await run_demo(
        rows=args.rows,
        workers=args.workers,
        chunk_rows=args.chunk_rows,
        output=args.output,
    )
