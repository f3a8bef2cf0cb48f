"""Which classes make up each Redis design."""

from __future__ import annotations

from .redis_lists import ListsCoordinator, ListsWorker
from .redis_pubsub import PubSubCoordinator, PubSubWorker
from .redis_streams import StreamsCoordinator, StreamsWorker
from .transport import MakeCoordinator, MakeWorker

HALVES: dict[str, tuple[MakeCoordinator, MakeWorker]] = {
    "redis-pubsub": (PubSubCoordinator, PubSubWorker),
    "redis-streams": (StreamsCoordinator, StreamsWorker),
    "redis-lists": (ListsCoordinator, ListsWorker),
}
