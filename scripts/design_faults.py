"""Every design under every fault, once each: what it did, and how fast.

    python scripts/design_faults.py            # the table in docs/designs.md
    python scripts/design_faults.py --rows 100000 --designs redis-lists

Each run exports a synthetic table with local workers over one design, hurts
it once a few chunks are written, and compares the file with an in-process
export. Faults:

- ``none``: nothing; the baseline.
- ``kill``: SIGKILL a worker that holds a chunk.
- ``restart``: kill redis-server and start it again, empty.
- ``restart-aof``: the same with ``appendonly yes``, ``appendfsync always``.
- ``slow``: one write of the output takes 3 s (a slow disk), so the
  coordinator stops reading results meanwhile; 4 slots a worker and a 4 MB
  Pub/Sub output buffer limit.

Prints one Markdown row a run: outcome, seconds, chunks re-issued,
duplicates, the median recovery, and Redis's peak memory (``INFO memory``).
Needs redis-server on PATH for the Redis designs.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import trio

from nngexport import (
    ExportError,
    Progress,
    export_in_process,
    open_coordinator,
    open_local_workers,
)
from nngexport.coordinator import Coordinator
from nngexport.designs import DESIGNS
from nngexport.designs.redis_coordinator import RedisCoordinator, open_redis_coordinator
from nngexport.designs.redis_server import RedisServer
from nngexport.faults import beside, slow_disk
from nngexport.job import plan_job
from nngexport.progress import ExportSummary
from nngexport.sink import prepare

FAULTS = ("none", "kill", "restart", "restart-aof", "slow")
SLOW_LIMIT = "pubsub 4mb 0 0"


async def run_one(
    design: str, fault: str, args: argparse.Namespace, scratch: Path
) -> str:
    if design == "nng" and fault.startswith("restart"):
        return f"| {design} | {fault} | n/a (no broker) | | | | | |"
    source = f"synthetic:?rows={args.rows}&seed=5"
    reference = scratch / "ref.csv"
    if not reference.exists():
        await export_in_process(source, reference, chunk_rows=args.chunk_rows)
    output = scratch / f"{design}-{fault}.csv"
    server = None
    if design != "nng":
        directory = Path(tempfile.mkdtemp(dir=scratch))
        config = {"client-output-buffer-limit": SLOW_LIMIT} if fault == "slow" else {}
        server = RedisServer(
            shutil.which("redis-server") or "redis-server",
            directory,
            aof=fault == "restart-aof",
            config=config,
        )
        server.start()
    reached = trio.Event()

    def watch(progress: Progress) -> None:
        if progress.chunks_done >= 4:
            reached.set()

    async def hurt(processes: list[trio.Process]) -> None:
        await reached.wait()
        if fault == "kill":
            processes[0].send_signal(signal.SIGKILL)
        elif fault.startswith("restart") and server is not None:
            await trio.to_thread.run_sync(server.restart)

    started = trio.current_time()
    try:
        slots = 4 if fault == "slow" else 1
        with slow_disk(3 if fault == "slow" else 0):
            summary = await _export(
                design, source, output, server, args, watch, hurt, slots=slots
            )
    except ExportError as exc:
        outcome = f"failed: {exc}"
        summary = None
    finally:
        peak = _peak_mb(server) if server else "-"
        if server:
            server.kill()
    seconds = trio.current_time() - started
    if summary is None:
        return f"| {design} | {fault} | {outcome} | {seconds:.1f} | | | | {peak} |"
    same = output.read_bytes() == reference.read_bytes()
    output.unlink()
    median = (
        f"{statistics.median(summary.recoveries):.2f}" if summary.recoveries else "-"
    )
    return (
        f"| {design} | {fault} | {'identical' if same else 'DIFFERENT'} |"
        f" {seconds:.1f} | {summary.reissued} | {summary.duplicates} | {median} |"
        f" {peak} |"
    )


async def _export(
    design: str,
    source: str,
    output: Path,
    server: RedisServer | None,
    args: argparse.Namespace,
    watch: Callable[[Progress], None],
    hurt: Callable[[list[trio.Process]], Awaitable[None]],
    *,
    slots: int,
) -> ExportSummary:
    plan = await trio.to_thread.run_sync(plan_job, source, args.chunk_rows)
    destination = await prepare(plan, output, resume=False)
    started = trio.current_time()
    async with AsyncExitStack() as stack:
        coordinator: Coordinator | RedisCoordinator
        if server is None:
            coordinator = await stack.enter_async_context(open_coordinator())
            target = coordinator.endpoint
        else:
            coordinator = await stack.enter_async_context(
                open_redis_coordinator(server.url, design)
            )
            target = server.url
        processes = await stack.enter_async_context(
            open_local_workers(
                target, args.workers, slots=slots, design=design, allow=["synthetic:*"]
            )
        )
        return await beside(
            lambda: coordinator.export_plan(
                plan,
                destination,
                started=started,
                min_workers=args.workers,
                discover_timeout=30,
                worker_timeout=30,
                on_progress=watch,
            ),
            lambda: hurt(processes),
        )


def _peak_mb(server: RedisServer) -> str:
    import redis

    try:
        client = redis.Redis.from_url(server.url)
        peak = int(client.info("memory")["used_memory_peak"])
        client.close()
    except redis.RedisError:
        return "-"
    return f"{peak / 1e6:.1f}"


async def main(args: argparse.Namespace) -> int:
    print(
        "| design | fault | outcome | s | re-issued | duplicates |"
        " median recovery (s) | Redis peak (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for fault in args.faults:
            for design in args.designs:
                print(await run_one(design, fault, args, Path(scratch)), flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS))
    parser.add_argument("--faults", nargs="+", default=list(FAULTS), choices=FAULTS)
    sys.exit(trio.run(main, parser.parse_args()))
