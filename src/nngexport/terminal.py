"""What the CLI draws on the terminal: a progress bar and a summary line."""

from __future__ import annotations

import sys
import time
from typing import TextIO

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
    return line + ("; " + ", ".join(notes) if notes else "")
