"""When the consumer is slower than the producer: is anything lost, who throttles?

    python scripts/slow_consumer.py                  # 2000 x 64 KiB, 1 ms each
    python scripts/slow_consumer.py --count 500 --size 1048576

The transports alone, with no export around them and no window of ours: a
producer sends ``--count`` messages of ``--size`` bytes as fast as it can; a
consumer takes each and then works ``--work-ms`` on it, so it is slower.
Reports per transport: messages received and lost, how long the producer
took (as long as the consumer: it was throttled; much less: it was not), and
Redis's peak memory. The Redis server is private, with its default
``client-output-buffer-limit pubsub 32mb 8mb 60``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pynng
import redis
import trio

from nngexport.designs.redis_server import RedisServer

QUIET = 2.0  # seconds with nothing received that end a consumer


def nng(args: argparse.Namespace) -> tuple[int, float, str]:
    async def run() -> tuple[int, float]:
        with tempfile.TemporaryDirectory() as scratch:
            url = f"ipc://{scratch}/p.ipc"
            with pynng.Pull0(listen=url) as pull, pynng.Push0() as push:
                push.dial(url, block=False)
                received = 0
                took = 0.0

                async def produce() -> None:
                    nonlocal took
                    start = time.monotonic()
                    payload = b"x" * args.size
                    for _ in range(args.count):
                        await push.asend(payload)
                    took = time.monotonic() - start

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(produce)
                    while received < args.count:
                        await pull.arecv()
                        received += 1
                        await trio.sleep(args.work_ms / 1000)  # the slow work
                return received, took

    received, took = trio.run(run)
    return received, took, "-"


def _redis_run(
    server: RedisServer,
    produce: Callable[[Any, bytes], None],
    consume: Callable[[Any, Callable[[], None]], None],
    args: argparse.Namespace,
) -> tuple[int, float, str]:
    client = redis.Redis.from_url(server.url)
    client.config_resetstat()
    received = 0
    took = 0.0

    def count() -> None:
        nonlocal received
        received += 1
        time.sleep(args.work_ms / 1000)  # the slow work

    def producer() -> None:
        nonlocal took
        start = time.monotonic()
        payload = b"x" * args.size
        produce(redis.Redis.from_url(server.url), payload)
        took = time.monotonic() - start

    consumer = threading.Thread(
        target=consume, args=(redis.Redis.from_url(server.url), count)
    )
    consumer.start()
    producer_thread = threading.Thread(target=producer)
    producer_thread.start()
    producer_thread.join()
    consumer.join()
    peak = int(client.info("memory")["used_memory_peak"])
    client.close()
    return received, took, f"{peak / 1e6:.0f}"


def pubsub(server: RedisServer, args: argparse.Namespace) -> tuple[int, float, str]:
    subscribed = threading.Event()

    def produce(client: Any, payload: bytes) -> None:
        subscribed.wait()
        for _ in range(args.count):
            client.publish("ch", payload)

    def consume(client: Any, count: Callable[[], None]) -> None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("ch")
        pubsub.get_message(timeout=1)
        subscribed.set()
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < QUIET:
            # Wait for a first byte briefly, then read the message whole:
            # redis-py drops the connection if a short read timeout runs out
            # in the middle of a large message (see designs/redis_pubsub.py).
            try:
                if not pubsub.connection.can_read(timeout=0.1):
                    continue
                message = pubsub.get_message(timeout=5)
            except redis.ConnectionError:
                # Cut off: connect and subscribe again, as redis-py would.
                pubsub.connection.disconnect()
                pubsub.connection.connect()
                continue
            if message is not None:
                quiet_since = time.monotonic()
                count()

    return _redis_run(server, produce, consume, args)


def streams(server: RedisServer, args: argparse.Namespace) -> tuple[int, float, str]:
    def produce(client: Any, payload: bytes) -> None:
        for _ in range(args.count):
            client.xadd("s", {"p": payload})

    def consume(client: Any, count: Callable[[], None]) -> None:
        client.xgroup_create("s", "g", id="0", mkstream=True)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < QUIET:
            reply = client.xreadgroup("g", "c", {"s": ">"}, count=1, block=100)
            if reply:
                quiet_since = time.monotonic()
                [(_, [(entry, _)])] = reply
                count()
                client.xack("s", "g", entry)
                client.xdel("s", entry)

    return _redis_run(server, produce, consume, args)


def lists(server: RedisServer, args: argparse.Namespace) -> tuple[int, float, str]:
    def produce(client: Any, payload: bytes) -> None:
        for _ in range(args.count):
            client.lpush("q", payload)

    def consume(client: Any, count: Callable[[], None]) -> None:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < QUIET:
            if client.blmove("q", "work", 0.1, "RIGHT", "LEFT") is not None:
                quiet_since = time.monotonic()
                count()
                client.rpop("work")

    return _redis_run(server, produce, consume, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--work-ms", type=float, default=1.0)
    args = parser.parse_args()
    print(
        f"{args.count} messages of {args.size} bytes; the consumer works"
        f" {args.work_ms:g} ms on each\n"
    )
    print("| transport | received | lost | producer took (s) | Redis peak (MB) |")
    print("|---|---|---|---|---|")
    received, took, peak = nng(args)
    lost = args.count - received
    print(f"| NNG push/pull | {received} | {lost} | {took:.2f} | {peak} |")
    for name, run in (
        ("Redis Pub/Sub", pubsub),
        ("Redis Streams", streams),
        ("Redis Lists", lists),
    ):
        with tempfile.TemporaryDirectory() as scratch:
            server = RedisServer(
                shutil.which("redis-server") or "redis-server", Path(scratch)
            )
            server.start()
            try:
                received, took, peak = run(server, args)
            finally:
                server.kill()
        print(
            f"| {name} | {received} | {args.count - received} | {took:.2f} | {peak} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
