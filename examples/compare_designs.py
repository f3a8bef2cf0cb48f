"""The same export over every design, side by side, on your own machine.

Run it from a checkout with ``pip install -e '.[redis]'`` and redis-server on
PATH (or pass ``--redis URL`` to use a server of your own; its keys under the
``nngexport-compare`` prefix are deleted):

    python examples/compare_designs.py --rows 500000 --workers 2

It exports a synthetic table in-process (the reference), then with local
workers over NNG and over each Redis design, and prints one line a design:
seconds, rows/s, speed-up over the reference, and whether the file is
byte-identical to it. Without ``--redis`` it starts a private redis-server
in a temporary directory and stops it at the end.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import trio

from nngexport import DESIGNS, run_export
from nngexport.designs.redis_server import RedisServer

PREFIX = "nngexport-compare"


async def main(args: argparse.Namespace, redis: str, scratch: Path) -> int:
    source = f"synthetic:?rows={args.rows}&seed=1"
    reference = await run_export(
        source, scratch / "ref.csv", workers=0, chunk_rows=args.chunk_rows
    )
    print(
        f"{'in-process':<14} {reference.seconds:6.2f} s"
        f" {reference.rows_per_second:>11,.0f} rows/s   1.00x  (the reference)"
    )
    mismatches = 0
    for design in DESIGNS:
        summary = await run_export(
            source,
            scratch / f"{design}.csv",
            workers=args.workers,
            chunk_rows=args.chunk_rows,
            design=design,
            redis=None if design == "nng" else redis,
            redis_prefix=PREFIX,
        )
        same = summary.sha256 == reference.sha256
        mismatches += not same
        print(
            f"{design:<14} {summary.seconds:6.2f} s"
            f" {summary.rows_per_second:>11,.0f} rows/s"
            f" {reference.seconds / summary.seconds:6.2f}x"
            f"  {'identical' if same else 'DIFFERENT'}"
        )
    return 1 if mismatches else 0


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="nngexport-compare-") as scratch:
        if args.redis:
            return trio.run(main, args, args.redis, Path(scratch))
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not on PATH; pass --redis URL")
        server = RedisServer(binary, Path(scratch))
        server.start()
        try:
            return trio.run(main, args, server.url, Path(scratch))
        finally:
            server.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--redis", help="a Redis URL (default: a private server)")
    raise SystemExit(run(parser.parse_args()))
