from __future__ import annotations

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from nngexport.designs.redis_common import (
    Keys,
    RedisBridge,
    RedisUnavailable,
    live_workers,
    serve_heartbeat,
    wait_for_workers,
)
from nngexport.errors import NoWorkersError

from .redis_server import RedisServer

pytestmark = pytest.mark.timeout(60)


async def test_a_worker_is_live_while_it_beats_and_gone_after(
    redis_server: RedisServer,
) -> None:
    bridge = RedisBridge(redis_server.url)
    keys = Keys("t1")
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_heartbeat, bridge, keys, "w1", 3)
            live = await wait_for_workers(bridge, keys, 1, timeout=5)
            assert [(w.name, w.slots) for w in live] == [("w1", 3)]
            nursery.cancel_scope.cancel()
        # A clean exit removes the worker at once.
        assert await bridge.call(lambda c: live_workers(c, keys)) == []
    bridge.close()


async def test_too_few_workers_is_a_clear_error(redis_server: RedisServer) -> None:
    bridge = RedisBridge(redis_server.url)
    with trio.fail_after(20), pytest.raises(NoWorkersError, match="only 0 of 2"):
        await wait_for_workers(bridge, Keys("t2"), 2, timeout=0.5)
    bridge.close()


async def test_a_dead_redis_is_an_export_error(redis_server: RedisServer) -> None:
    bridge = RedisBridge(redis_server.url)
    redis_server.kill()
    with trio.fail_after(20), pytest.raises(RedisUnavailable, match="failed"):
        await bridge.call(lambda c: c.ping())
    bridge.close()


@given(
    st.one_of(st.binary(max_size=30), st.text(max_size=30), st.integers(), st.none())
)
def test_a_redis_field_is_a_natural_number_or_the_default(value: object) -> None:
    from nngexport.designs.redis_common import natural

    parsed = natural(value, -1)
    assert parsed == -1 or (isinstance(parsed, int) and parsed >= 0)


def test_natural_reads_ascii_digits_only() -> None:
    from nngexport.designs.redis_common import natural

    assert natural(b"42") == 42
    assert natural("7") == 7
    assert natural(3) == 3
    assert natural(b"-1", 0) == 0
    assert natural("٣", 0) == 0  # an Arabic-Indic digit is not ASCII
    assert natural(b"\xff", 5) == 5
    assert natural(True, 0) == 0
