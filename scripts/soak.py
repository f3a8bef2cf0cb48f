"""Soak the fault handling: many exports, each with a worker killed or stalled.

    python scripts/soak.py --trials 200            # the full soak
    python scripts/soak.py --trials 20 --quiet     # what CI runs every time

Each trial exports a synthetic table with 4 local workers over NNG, hurts a
random worker at a random point (SIGKILL, or SIGSTOP then SIGCONT; the two
alternate), and compares the file with an in-process export. Prints trials,
outputs identical, rows lost, rows doubled and the median and worst recovery
time; exits 1 unless every output was identical.
"""

from __future__ import annotations

import argparse
import sys
import time

import trio

from nngexport.faults import FAULTS, TrialResult, run_trial, summarise


async def soak(args: argparse.Namespace) -> int:
    results: list[TrialResult] = []
    started = time.monotonic()
    for number in range(args.trials):
        fault = FAULTS[number % len(FAULTS)]
        seed = args.seed + number
        result = await run_trial(
            seed,
            fault=fault,
            workers=args.workers,
            rows=args.rows,
            chunk_rows=args.chunk_rows,
        )
        results.append(result)
        if not args.quiet or not result.identical:
            summary = result.summary
            print(
                f"trial {number + 1:>4} seed {seed} {fault:<4}"
                f" identical={result.identical} lost={result.rows_lost}"
                f" doubled={result.rows_doubled} reissued={summary.reissued}"
                f" duplicates={summary.duplicates}"
                f" recoveries={[round(t, 3) for t in summary.recoveries]}",
                flush=True,
            )
    report = summarise(results)
    print("\n".join(report.lines()))
    print(f"wall time:         {time.monotonic() - started:.1f} s")
    return 0 if report.identical == report.trials else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1000, help="seed of trial 1")
    parser.add_argument("--quiet", action="store_true", help="print only failures")
    return trio.run(soak, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
