"""The Redis designs: the same export over Redis instead of NNG.

Each module holds one design, a coordinator half and a worker half (see
:mod:`~nngexport.designs.transport`), and reuses everything else: sources,
planning, scheduling, rendering, the wire format of descriptors and results,
ordered assembly and the journal.
"""

from __future__ import annotations

from ..errors import UsageError

#: The designs ``--design`` accepts, NNG first (the default).
DESIGNS = ("nng", "redis-pubsub", "redis-streams", "redis-lists")
#: The designs that need ``--redis``.
REDIS_DESIGNS = DESIGNS[1:]


def check_design(design: str, redis: str | None) -> None:
    """Raise UsageError unless ``design`` is known and has the Redis URL it needs."""
    if design not in DESIGNS:
        raise UsageError(
            f"unknown design {design!r}; choose one of {', '.join(DESIGNS)}"
        )
    if design in REDIS_DESIGNS and not redis:
        raise UsageError(
            f"design {design!r} needs a Redis server: pass --redis redis://HOST:PORT/DB"
        )
    if design == "nng" and redis:
        raise UsageError(
            "--redis goes with --design redis-pubsub, redis-streams or redis-lists"
        )
