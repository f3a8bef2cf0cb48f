"""Embed nngexport in a Trio program: a coordinator, local workers, progress.

Run it from a checkout with nngexport installed:

    python examples/embed_coordinator.py --rows 200000 --workers 2 out.csv

It opens a coordinator on a private ipc:// address, starts worker processes
that dial it, runs one export while printing progress, and prints the summary.
"""

from __future__ import annotations

import argparse

import trio

from nngexport import Progress, open_coordinator, open_local_workers


def show(progress: Progress) -> None:
    print(
        f"{progress.chunks_done}/{progress.chunks_total} chunks,"
        f" {progress.rows_done:,} rows, {progress.rows_per_second:,.0f} rows/s"
    )


async def main(output: str, rows: int, workers: int) -> None:
    async with (
        open_coordinator() as coordinator,
        open_local_workers(coordinator.endpoint, workers, allow=["synthetic:*"]),
    ):
        found = await coordinator.wait_for_workers(workers)
        print("workers:", ", ".join(info.worker for info in found))
        summary = await coordinator.export(
            f"synthetic:?rows={rows}&seed=1",
            output,
            chunk_rows=max(rows // 20, 1),
            min_workers=workers,
            on_progress=show,
        )
    print(
        f"{summary.rows:,} rows, {summary.bytes:,} bytes in {summary.seconds:.2f} s;"
        f" sha256 {summary.sha256}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    trio.run(main, args.output, args.rows, args.workers)
