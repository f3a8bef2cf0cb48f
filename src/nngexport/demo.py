"""``nngexport demo``: the main job, on an embedded SQLite table.

Builds (once, then cached) a realistic ``orders`` table, exports it in-process
as the reference, exports it again with local workers over NNG, checks that
the two files are byte-identical and prints the speed-up.
"""

from __future__ import annotations

import resource
import sys
import tempfile
from pathlib import Path

import trio

from .api import run_export
from .demo_data import demo_database_path, ensure_demo_database
from .progress import ExportSummary
from .terminal import ProgressBar, describe_summary


def demo_source_url(database: Path) -> str:
    """The source URL of the demo table in ``database``."""
    return f"sqlite://{database.resolve()}?table=orders"


async def run_demo(*, rows: int, workers: int, chunk_rows: int, output: str) -> int:
    """Run the demo; returns the exit status (non-zero if the files differ)."""
    say = _Printer()
    database = demo_database_path(rows)
    if not database.exists():
        say(f"building the demo table: {rows:,} rows in {database} (only once)")
    database = await trio.to_thread.run_sync(ensure_demo_database, rows)
    source = demo_source_url(database)

    say("exporting in-process (the reference, --workers 0) ...")
    with tempfile.TemporaryDirectory(prefix="nngexport-demo-") as scratch:
        reference = await run_export(
            source, Path(scratch, "reference.csv"), workers=0, chunk_rows=chunk_rows
        )
    say("  " + describe_summary(reference))

    say(f"exporting with {workers} worker process(es) over NNG ...")
    bar = ProgressBar.for_stderr()
    parallel = await run_export(
        source,
        output,
        workers=workers,
        chunk_rows=chunk_rows,
        on_progress=bar.update if bar else None,
    )
    if bar:
        bar.finish()
    say("  " + describe_summary(parallel))
    return _report(say, reference, parallel)


def _report(say: _Printer, reference: ExportSummary, parallel: ExportSummary) -> int:
    if parallel.sha256 != reference.sha256:
        say(
            f"MISMATCH: {parallel.output} (sha256 {parallel.sha256}) differs from"
            f" the in-process export (sha256 {reference.sha256})"
        )
        return 1
    speedup = reference.seconds / parallel.seconds if parallel.seconds else 0.0
    say(f"identical to the in-process export (sha256 {parallel.sha256[:16]}...)")
    say(
        f"{parallel.rows_per_second:,.0f} rows/s, "
        f"{parallel.megabytes_per_second:,.1f} MB/s with {parallel.workers} workers;"
        f" speed-up over --workers 0: {speedup:.2f}x"
    )
    # ru_maxrss is in KiB on Linux. This process ran both exports, so this is
    # the larger of the two peaks; the workers are other processes.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"coordinator peak memory (this process, RSS): {peak:,.0f} MiB")
    return 0


class _Printer:
    def __call__(self, line: str) -> None:
        print(line, file=sys.stdout, flush=True)
