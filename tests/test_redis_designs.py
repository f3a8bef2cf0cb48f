"""Whole exports over each Redis design, with real workers and a real redis-server.

Every test starts its own redis-server (see tests/redis_server.py), so it
can kill it, restart it, or give it a small output buffer limit.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from nngexport import Progress, export_in_process, open_local_workers, run_export
from nngexport.defaults import DEFAULT_PREFIX
from nngexport.designs import REDIS_DESIGNS
from nngexport.designs.redis_common import Keys, RedisUnavailable
from nngexport.designs.redis_coordinator import open_redis_coordinator
from nngexport.errors import ChunkFailedError, UsageError
from nngexport.faults import beside, slow_disk
from nngexport.job import plan_job
from nngexport.progress import ExportSummary
from nngexport.sink import prepare

from .conftest import wait_until
from .redis_server import RedisServer

pytestmark = pytest.mark.timeout(120)

#: How long a test may take to export, at most.
EXPORT_LIMIT = 90


def _source(rows: int) -> str:
    return f"synthetic:?rows={rows}&seed=3"


async def _reference(source: str, path: Path, chunk_rows: int) -> bytes:
    await export_in_process(source, path, chunk_rows=chunk_rows)
    return path.read_bytes()


@pytest.mark.parametrize("design", REDIS_DESIGNS)
@pytest.mark.parametrize(("workers", "chunk_rows"), [(1, 700), (2, 97), (4, 1234)])
async def test_every_redis_design_is_byte_identical_to_in_process(
    redis_server: RedisServer,
    tmp_path: Path,
    design: str,
    workers: int,
    chunk_rows: int,
) -> None:
    source = "synthetic:?rows=15000&seed=7"
    with trio.fail_after(EXPORT_LIMIT):
        expected = await _reference(source, tmp_path / "ref.csv", chunk_rows)
        summary = await run_export(
            source,
            tmp_path / "out.csv",
            workers=workers,
            chunk_rows=chunk_rows,
            design=design,
            redis=redis_server.url,
        )
    assert (tmp_path / "out.csv").read_bytes() == expected
    assert summary.rows == 15000
    assert summary.workers == workers
    assert summary.reissued == 0


@pytest.mark.parametrize("design", REDIS_DESIGNS)
async def test_a_sqlite_table_with_awkward_text_round_trips(
    redis_server: RedisServer, awkward_db: Path, tmp_path: Path, design: str
) -> None:
    source = f"sqlite://{awkward_db}?table=items"
    with trio.fail_after(EXPORT_LIMIT):
        expected = await _reference(source, tmp_path / "ref.csv", 50)
        await run_export(
            source,
            tmp_path / "out.csv",
            workers=2,
            chunk_rows=50,
            design=design,
            redis=redis_server.url,
        )
    assert (tmp_path / "out.csv").read_bytes() == expected


async def _export_with_fault(
    redis_server: RedisServer,
    tmp_path: Path,
    design: str,
    *,
    hurt: Callable[[list[trio.Process]], object],
    at_chunk: int | None,
    workers: int = 3,
    slots: int = 1,
    rows: int = 300_000,
    chunk_rows: int = 2_000,
    on_progress: Callable[[Progress], object] | None = None,
    redis_timeout: float = 15.0,
    expected: bytes | None = None,
    coordinator_url: str | None = None,
) -> tuple[ExportSummary, bytes]:
    """Export with ``hurt(processes)`` called once ``at_chunk`` chunks are in.

    ``at_chunk`` None calls it at once. ``expected`` is the in-process
    export's bytes, if the caller made it already (a fault on every output,
    like a slow disk, must not reach it). The coordinator connects to
    ``coordinator_url`` if given, else to the workers' Redis URL.
    """
    source = _source(rows)
    if expected is None:
        expected = await _reference(source, tmp_path / "ref.csv", chunk_rows)
    reached = trio.Event()
    if at_chunk is None:
        reached.set()

    def watch(progress: Progress) -> None:
        if at_chunk is not None and progress.chunks_done >= at_chunk:
            reached.set()
        if on_progress is not None:
            on_progress(progress)

    async with (
        open_redis_coordinator(
            coordinator_url or redis_server.url, design
        ) as coordinator,
        open_local_workers(
            redis_server.url, workers, slots=slots, design=design, allow=["*"]
        ) as processes,
    ):

        async def fault() -> None:
            await reached.wait()
            await trio.to_thread.run_sync(hurt, processes)

        plan = await trio.to_thread.run_sync(plan_job, source, chunk_rows)
        destination = await prepare(plan, tmp_path / "out.csv", resume=False)
        summary = await beside(
            lambda: coordinator.export_plan(
                plan,
                destination,
                started=trio.current_time(),
                min_workers=workers,
                discover_timeout=30,
                worker_timeout=30,
                redis_timeout=redis_timeout,
                on_progress=watch,
            ),
            fault,
        )
    return summary, expected


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _holders(url: str, design: str) -> set[str]:
    """Names of the workers that Redis says hold a chunk right now."""
    import redis

    client = redis.Redis.from_url(url)
    prefix = Keys.of(DEFAULT_PREFIX, design).prefix
    try:
        if design == "redis-pubsub":
            keys = list(client.scan_iter(match=f"{prefix}:claim:*"))
            return {_text(v) for v in client.mget(keys) if v} if keys else set()
        if design == "redis-streams":
            pending = client.xpending(f"{prefix}:tasks", "workers")
            return {c["name"].decode() for c in pending["consumers"] if c["pending"]}
        names = [_text(n) for n in client.smembers(f"{prefix}:processors")]
        return {n for n in names if client.llen(f"{prefix}:processing:{n}")}
    finally:
        client.close()


@pytest.mark.parametrize("design", REDIS_DESIGNS)
async def test_a_killed_worker_loses_no_row(
    redis_server: RedisServer, tmp_path: Path, design: str
) -> None:
    def kill_a_holder(processes: list[trio.Process]) -> None:
        # Local workers are named HOST-PID-XXXX: kill one that holds a chunk.
        holders = _holders(redis_server.url, design)
        victim = next(p for p in processes if any(f"-{p.pid}-" in h for h in holders))
        victim.send_signal(signal.SIGKILL)

    with trio.fail_after(EXPORT_LIMIT):
        summary, expected = await _export_with_fault(
            redis_server,
            tmp_path,
            design,
            hurt=kill_a_holder,
            at_chunk=4,
            chunk_rows=10_000,
        )
    assert (tmp_path / "out.csv").read_bytes() == expected
    assert summary.workers_lost >= 1
    # Its chunks were taken back (by whatever the design offers) and redone.
    assert summary.reissued >= 1
    assert summary.recoveries


@pytest.mark.parametrize("aof", [False, True], ids=["no-persistence", "aof-always"])
@pytest.mark.parametrize("design", REDIS_DESIGNS)
async def test_a_redis_restart_mid_export_loses_no_row(
    redis_servers: Callable[..., RedisServer], tmp_path: Path, design: str, aof: bool
) -> None:
    server = redis_servers(aof=aof)

    def restart(processes: list[trio.Process]) -> None:
        server.restart()

    with trio.fail_after(EXPORT_LIMIT):
        summary, expected = await _export_with_fault(
            server, tmp_path, design, hurt=restart, at_chunk=20
        )
    assert server.starts == 2
    assert (tmp_path / "out.csv").read_bytes() == expected
    if not aof:
        # Whatever was in flight was gone with the data, and went out again.
        assert summary.reissued >= 1


@pytest.mark.parametrize("design", REDIS_DESIGNS)
async def test_a_slow_coordinator_receiving_large_results(
    redis_servers: Callable[..., RedisServer], tmp_path: Path, design: str
) -> None:
    # A 4 MB Pub/Sub buffer: a subscriber 3 s behind ~1.5 MB results that
    # come from 8 slots is surely cut off (kernel buffers hold far less).
    server = redis_servers(config={"client-output-buffer-limit": "pubsub 4mb 0 0"})
    # Made first: the slow disk below stalls the first chunk of any output.
    expected = await _reference(_source(300_000), tmp_path / "ref.csv", 10_000)
    failure: ChunkFailedError | None = None
    try:
        # The injected fault: the export's first chunk's write takes 3 s.
        with trio.fail_after(EXPORT_LIMIT), slow_disk(3) as stalled:
            summary, _ = await _export_with_fault(
                server,
                tmp_path,
                design,
                hurt=lambda processes: None,
                at_chunk=1,
                workers=2,
                slots=4,
                rows=300_000,
                chunk_rows=10_000,
                expected=expected,
            )
    except ChunkFailedError as exc:
        failure = exc
    if failure is not None:
        # Pub/Sub may lose the same chunk's result on every attempt; then it
        # must fail, naming the chunk, and leave no output behind.
        assert design == "redis-pubsub", failure
        assert "was given up after" in str(failure)
        assert not (tmp_path / "out.csv").exists()
        return
    assert stalled.is_set()
    assert (tmp_path / "out.csv").read_bytes() == expected
    if design != "redis-pubsub":
        # Streams and Lists keep results until they are read: nothing lost.
        # (Pub/Sub may finish too: whether the 3 s stall overflows the buffer
        # depends on how much the kernel's socket buffers took; if it did,
        # the lost results were published again, and the file is the same.)
        assert summary.reissued == 0


@pytest.mark.parametrize("design", REDIS_DESIGNS)
async def test_a_redis_gone_for_good_fails_the_export_clearly(
    redis_server: RedisServer, tmp_path: Path, design: str
) -> None:
    def kill(processes: list[trio.Process]) -> None:
        redis_server.kill()

    with trio.fail_after(EXPORT_LIMIT), pytest.raises(RedisUnavailable) as caught:
        await _export_with_fault(
            redis_server, tmp_path, design, hurt=kill, at_chunk=5, redis_timeout=2
        )
    assert f"Redis at {redis_server.url} could not be used for 2 s" in str(caught.value)
    assert not (tmp_path / "out.csv").exists()
    # What was written stays, and --resume finishes it once Redis is back.
    assert (tmp_path / ".out.csv.nngexport-journal").exists()
    redis_server.start()
    with trio.fail_after(EXPORT_LIMIT):
        summary = await run_export(
            "synthetic:?rows=300000&seed=3",
            tmp_path / "out.csv",
            workers=2,
            chunk_rows=2_000,
            resume=True,
            design=design,
            redis=redis_server.url,
        )
    assert summary.resumed_at >= 5
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()


async def _export_failing(
    redis_server: RedisServer, tmp_path: Path, design: str, source: str
) -> ChunkFailedError:
    with trio.fail_after(EXPORT_LIMIT), pytest.raises(ChunkFailedError) as caught:
        await run_export(
            source,
            tmp_path / "out.csv",
            workers=3,
            chunk_rows=1000,
            max_attempts=2,
            design=design,
            redis=redis_server.url,
        )
    assert not (tmp_path / "out.csv").exists()
    return caught.value


@pytest.mark.parametrize("design", REDIS_DESIGNS)
async def test_a_chunk_that_always_fails_fails_the_export_naming_it(
    redis_server: RedisServer, tmp_path: Path, design: str
) -> None:
    failure = await _export_failing(
        redis_server, tmp_path, design, "synthetic:?rows=20000&fail_at=12345"
    )
    message = str(failure)
    assert message.startswith("chunk 12 was given up after 2 attempts (last: failed;")
    assert "injected failure in chunk 12 (row 12345)" in message


@pytest.mark.parametrize(
    ("design", "reason"),
    [
        ("redis-pubsub", "was given up after 2 attempts (last: lease expired;"),
        ("redis-streams", "was given up: Redis delivered it 3 times"),
        ("redis-lists", "was given up: taken back from 2 dead worker(s)"),
    ],
)
async def test_a_chunk_that_kills_its_workers_fails_the_export_naming_it(
    redis_server: RedisServer, tmp_path: Path, design: str, reason: str
) -> None:
    # Each worker that reads row 12345 exits on the spot: the chunk comes
    # back through whatever the design has for dead workers, until it is
    # given up for good.
    failure = await _export_failing(
        redis_server, tmp_path, design, "synthetic:?rows=20000&crash_at=12345"
    )
    assert str(failure).startswith(f"chunk 12 {reason}"), failure


async def test_a_redis_design_without_a_url_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs a Redis server"):
        await run_export(
            "synthetic:?rows=10", tmp_path / "x.csv", workers=1, design="redis-lists"
        )
    assert not (tmp_path / "x.csv").exists()


def test_a_lists_worker_adopts_a_move_it_never_heard_back_about(
    redis_server: RedisServer,
) -> None:
    """Redis did the BLMOVE (and logged it) but died before replying."""
    import redis

    from nngexport.designs.redis_lists import ListsWorker
    from nngexport.plan import Chunk
    from nngexport.wire import Task, encode

    keys = Keys.of(DEFAULT_PREFIX, "redis-lists")
    client = redis.Redis.from_url(redis_server.url)
    try:
        half = ListsWorker(client, keys, "w1")
        tasks = [
            encode(Task("job", "synthetic:?rows=10", Chunk(i, i, i + 1, 1)))
            for i in range(3)
        ]
        client.lpush(keys.tasks, *tasks)
        # The lost move: the descriptor is in our list, and we do not know.
        lost = client.lmove(keys.tasks, keys.processing("w1"), "RIGHT", "LEFT")
        adopted = half.take(client, lambda: 2)
        assert [held.token for held in adopted] == [lost]
        # Known now: the next take moves fresh ones instead.
        fresh = half.take(client, lambda: 2)
        assert sorted(h.task.chunk.index for h in fresh) == [1, 2]
        for held in [*adopted, *fresh]:
            half.answer(client, held, b"frame%d" % held.task.chunk.index)
        assert client.llen(keys.processing("w1")) == 0
        assert half.take(client, lambda: 2) == []
    finally:
        client.close()


async def test_a_streams_worker_waiting_when_the_export_ends_takes_nothing(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coordinator deletes the stream at the end: Redis unblocks its readers."""
    import redis

    from nngexport.designs import redis_streams
    from nngexport.designs.redis_streams import GROUP, StreamsWorker

    # Long enough that the worker is surely still blocked when the key goes.
    monkeypatch.setattr(redis_streams, "BLOCK_SECONDS", 30.0)
    keys = Keys.of(DEFAULT_PREFIX, "redis-streams")
    client = redis.Redis.from_url(redis_server.url)
    other = redis.Redis.from_url(redis_server.url)
    try:
        client.xgroup_create(keys.tasks, GROUP, id="0", mkstream=True)
        half = StreamsWorker(client, keys, "w1")
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                taken: list[object] = []

                async def take() -> None:
                    taken.extend(
                        await trio.to_thread.run_sync(half.take, client, lambda: 1)
                    )

                nursery.start_soon(take)
                await wait_until(
                    lambda: int(other.info("clients")["blocked_clients"]) == 1
                )
                other.delete(keys.tasks)
        assert taken == []
    finally:
        client.close()
        other.close()


async def test_a_lists_result_whose_pop_was_never_answered_is_sent_again(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis popped a result, and its reply never reached the coordinator.

    That happens when Redis dies (or the connection does) between running
    BZPOPMIN and answering; with an append-only file the pop survives the
    restart. Here a thief pops one while the coordinator waits on its disk.
    """
    import redis

    expected = await _reference(_source(60_000), tmp_path / "ref.csv", 2_000)
    keys = Keys.of(DEFAULT_PREFIX, "redis-lists")
    thief = redis.Redis.from_url(redis_server.url)
    stolen: list[object] = []
    try:
        with trio.fail_after(EXPORT_LIMIT), slow_disk(2) as stalled:

            def steal(processes: list[trio.Process]) -> None:
                # The coordinator is stuck writing its first chunk: the next
                # result to arrive is the thief's.
                stalled.wait()
                stolen.append(thief.bzpopmin(keys.results, timeout=30))

            summary, _ = await _export_with_fault(
                redis_server,
                tmp_path,
                "redis-lists",
                hurt=steal,
                at_chunk=None,
                workers=2,
                rows=60_000,
                expected=expected,
            )
    finally:
        thief.close()
    assert len(stolen) == 1
    assert stolen[0] is not None
    assert (tmp_path / "out.csv").read_bytes() == expected
    assert summary.reissued >= 1


async def test_a_streams_result_read_is_kept_when_deleting_it_fails(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The coordinator reads results, then deletes them; the delete may fail.

    Here it always does: the coordinator's Redis user may not run XDEL (a
    real ACL). Before, the read results went with the error, and the next
    read started after them.
    """
    import redis

    admin = redis.Redis.from_url(redis_server.url)
    try:
        admin.acl_setuser(
            "noxdel",
            enabled=True,
            nopass=True,
            keys=["*"],
            channels=["*"],
            commands=["+@all", "-xdel"],
        )
    finally:
        admin.close()
    restricted = redis_server.url.replace("redis://", "redis://noxdel@")
    with trio.fail_after(EXPORT_LIMIT):
        summary, expected = await _export_with_fault(
            redis_server,
            tmp_path,
            "redis-streams",
            hurt=lambda processes: None,
            at_chunk=None,
            workers=2,
            rows=40_000,
            redis_timeout=5,
            coordinator_url=restricted,
        )
    assert (tmp_path / "out.csv").read_bytes() == expected
    assert summary.reissued == 0
