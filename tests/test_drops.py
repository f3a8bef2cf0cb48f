from __future__ import annotations

import logging

import pytest

from nngexport.drops import MAX_PEERS, Drops


def test_each_peer_is_warned_about_once_and_every_drop_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drops = Drops(logging.getLogger("test.drops"))
    before = drops.counts()
    with caplog.at_level(logging.DEBUG, logger="test.drops"):
        for _ in range(3):
            drops.drop("malformed", "peer a", "bad magic")
        drops.drop("stray", "peer b", "other job")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == [
        "dropped a malformed message from peer a",
        "dropped a stray message from peer b",
    ]
    assert drops.since(before) == {"malformed": 3, "unauthenticated": 0, "stray": 1}
    with pytest.raises(ValueError, match="unknown drop reason"):
        drops.drop("odd", "peer a", "")


def test_a_flood_of_peers_stops_the_warnings(caplog: pytest.LogCaptureFixture) -> None:
    drops = Drops(logging.getLogger("test.flood"))
    with caplog.at_level(logging.WARNING, logger="test.flood"):
        for peer in range(MAX_PEERS + 50):
            drops.drop("malformed", f"peer {peer}", "x")
    assert len(caplog.records) == MAX_PEERS + 1
    assert "no longer warning" in caplog.records[-1].getMessage()
    assert drops.counts()["malformed"] == MAX_PEERS + 50
