"""What the CLI shows: a progress bar, a summary line, a summary file."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import TextIO

from .allocations import Traced
from .errors import OutputError
from .progress import ExportSummary, Progress

#: Seconds between redraws of the bar.
REDRAW_INTERVAL = 0.1
_WIDTH = 28


class ProgressBar:
    """A one-line progress bar, redrawn in place on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last_draw = 0.0
        self._drawn = False

    @classmethod
    def for_stderr(cls) -> ProgressBar | None:
        """A bar on stderr, or None when stderr is not a terminal."""
        return cls(sys.stderr) if sys.stderr.isatty() else None

    def update(self, progress: Progress) -> None:
        """Redraw for ``progress``, at most every :data:`REDRAW_INTERVAL` s."""
        now = time.monotonic()
        final = progress.chunks_done == progress.chunks_total
        if not final and now - self._last_draw < REDRAW_INTERVAL:
            return
        self._last_draw = now
        self._stream.write("\r" + render_bar(progress))
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """End the bar's line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


def render_bar(progress: Progress) -> str:
    """The text of the bar for ``progress``."""
    filled = round(progress.fraction * _WIDTH)
    eta = progress.eta
    eta_text = "--" if eta is None else f"{eta:.0f}s"
    return (
        f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {progress.fraction:4.0%}"
        f" {progress.rows_done:,}/{progress.rows_total:,} rows"
        f" {progress.rows_per_second:,.0f} rows/s"
        f" {progress.workers} workers ETA {eta_text} "
    )


def describe_summary(summary: ExportSummary) -> str:
    """One line saying what an export did."""
    workers = "in-process" if summary.workers == 0 else f"{summary.workers} workers"
    line = (
        f"wrote {summary.rows:,} rows ({summary.bytes / 1e6:,.1f} MB,"
        f" {summary.chunks:,} chunks) to {summary.output} in {summary.seconds:.2f} s"
        f" with {workers}: {summary.rows_per_second:,.0f} rows/s,"
        f" {summary.megabytes_per_second:,.1f} MB/s"
    )
    recovered = [
        (summary.resumed_at, "chunks kept from the interrupted export"),
        (summary.workers_lost, "workers lost"),
        (summary.reissued, "chunks re-issued"),
        (summary.duplicates, "duplicates dropped"),
    ]
    notes = [f"{count:,} {what}" for count, what in recovered if count]
    if summary.recoveries:
        notes.append(f"slowest recovery {max(summary.recoveries):.2f} s")
    notes += [
        f"{count:,} {reason} messages dropped"
        for reason, count in summary.dropped
        if count
    ]
    return line + ("; " + ", ".join(notes) if notes else "")


def write_summary_json(
    summary: ExportSummary, path: str, *, traced: Traced | None = None
) -> None:
    """Write ``summary`` and peak memory as JSON to ``path``. Blocks.

    Peak memory is this process's (the coordinator's, from ``VmHWM`` on
    Linux) and the largest of its finished child processes' (local workers,
    ``getrusage``; on Linux that includes the memory they were forked with);
    ``traced`` adds the Python allocations tracemalloc saw.
    """
    record = dataclasses.asdict(summary)
    record["output"] = str(summary.output)
    record["recoveries"] = list(summary.recoveries)
    record["coordinator_peak_rss"] = _peak_rss(resource.RUSAGE_SELF)
    record["worker_peak_rss"] = _peak_rss(resource.RUSAGE_CHILDREN)
    if traced is not None:
        record["traced_peak"] = traced.peak
        record["traced_retained"] = traced.retained
    try:
        Path(path).write_text(json.dumps(record, indent=1) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {path!r}: {exc.strerror or exc}") from None


def _peak_rss(who: int) -> int:
    if who == resource.RUSAGE_SELF:
        # On Linux ru_maxrss survives exec: a process started by a large
        # parent reports the parent's size. VmHWM is this image's own peak.
        own = peak_rss_of("self")
        if own is not None:
            return own
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(who).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def children_of(pid: int) -> list[int]:
    """The child processes of ``pid``, whichever of its threads started them (Linux)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            text = Path(f"/proc/{pid}/task/{thread}/children").read_text()
        except OSError:
            continue
        found += [int(word) for word in text.split()]
    return found


def peak_rss_of(pid: int | str) -> int | None:
    """Peak resident memory of process ``pid`` in bytes (Linux), else None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
