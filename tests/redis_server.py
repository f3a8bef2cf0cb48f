"""Where the tests get a private redis-server, or why they skip without one."""

from __future__ import annotations

import os
import shutil

import pytest

from nngexport.designs.redis_server import RedisServer, free_port

__all__ = ["REQUIRE", "RedisServer", "free_port", "redis_binary"]

#: Set (as .ci/run does) to turn "no redis-server here" into a failure.
REQUIRE = "NNGEXPORT_REQUIRE_SERVICES"


def redis_binary() -> str:
    """The redis-server on PATH; skips (or fails, under CI) without one."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = (
            "redis-server is not on PATH; install Redis 7 (for example"
            " 'apt-get install redis-server') to run the Redis design tests"
        )
        if os.environ.get(REQUIRE):
            pytest.fail(f"{reason} ({REQUIRE} is set)")
        pytest.skip(reason)
    try:
        import redis  # noqa: F401
    except ImportError:
        reason = "redis-py is not installed; pip install -e '.[test]'"
        if os.environ.get(REQUIRE):
            pytest.fail(f"{reason} ({REQUIRE} is set)")
        pytest.skip(reason)
    return binary
