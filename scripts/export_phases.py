"""Where an export's time goes: start-up, the chunks, and the end.

    python scripts/export_phases.py SOURCE --workers 2 [--chunk-rows 10000]

Runs one export in this process (with local worker processes unless
``--workers 0``) and prints, in seconds since the script started: when its
imports were done, when the first and the last chunk were written, and when
the export returned; then this process's CPU time and its workers'. The gap
between the last chunk and the return is the export's end (stopping workers,
closing sockets); the time to the first chunk is its start-up.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

import argparse  # noqa: E402 - the clock starts before the imports
import os  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import trio  # noqa: E402

from nngexport import Progress, run_export  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    args = parser.parse_args()
    imported = time.monotonic() - STARTED
    written: list[float] = []
    done = [0]

    def watch(progress: Progress) -> None:
        # Events also come when only a recovery counter moved.
        if progress.chunks_done > done[0]:
            done[0] = progress.chunks_done
            written.append(time.monotonic() - STARTED)

    with tempfile.TemporaryDirectory() as scratch:
        trio.run(
            lambda: run_export(
                args.source,
                Path(scratch, "out.csv"),
                workers=args.workers,
                chunk_rows=args.chunk_rows,
                on_progress=watch,
            )
        )
        returned = time.monotonic() - STARTED
    times = os.times()
    print(
        f"workers={args.workers} imported {imported:.2f} first chunk"
        f" {written[0]:.2f} last chunk {written[-1]:.2f} returned {returned:.2f}"
        f" | cpu: this process {times.user + times.system:.2f},"
        f" workers {times.children_user + times.children_system:.2f}"
    )


if __name__ == "__main__":
    main()
