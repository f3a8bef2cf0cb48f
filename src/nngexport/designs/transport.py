"""The two halves every Redis design provides, and what they report.

A design is a pair of small classes. The coordinator half moves descriptors
into Redis and results out of it, and reports what only Redis knows (who
claimed what, what was given up). The worker half takes descriptors and
hands results back. Everything else (planning, scheduling, ordered writing,
heartbeats, rendering, retrying Redis) is shared, in
:mod:`~nngexport.designs.redis_coordinator` and
:mod:`~nngexport.designs.redis_worker`.

Every method here blocks and runs in a worker thread, with a redis-py client
passed in; none may block for much longer than
:data:`~nngexport.designs.redis_common.BLOCK_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..wire import Task
from .redis_common import Keys


@dataclass(frozen=True, slots=True)
class GivenUp:
    """A chunk the design itself gave up on, and why."""

    index: int
    reason: str


@dataclass(slots=True)
class Check:
    """What a periodic look at Redis found.

    Attributes:
        claims: Chunk index to the worker that Redis says holds it (only
            designs whose coordinator keeps the leases fill this in).
        given_up: Chunks delivered or taken back too often.
        taken_back: Chunks moved back from dead workers to the queue, each
            with the worker that had it, where known.
        missing: Chunks of those in flight that Redis holds nowhere: not
            queued, not held by a worker, not among the results (designs
            that can tell fill this in). Either their result is on its way
            to the coordinator, or it was taken from Redis and its reply
            lost; the coordinator tells the two apart by waiting.
    """

    claims: dict[int, str] = field(default_factory=dict)
    given_up: list[GivenUp] = field(default_factory=list)
    taken_back: list[tuple[int, str | None]] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


class CoordinatorHalf(Protocol):
    """The coordinator's side of one design."""

    #: Seconds a chunk stays leased after the coordinator last saw it held,
    #: and seconds a sent chunk may go without being seen held. Infinite for
    #: designs where Redis itself keeps what was sent.
    lease_time: float
    ack_timeout: float
    #: Whether the window may grow past the workers' slots for small chunks
    #: (see :func:`~nngexport.scheduler.window_for`): not where a chunk sent
    #: while every worker is busy is dropped.
    grows_window: bool

    def start(self, client: Any, job: str, *, max_attempts: int) -> None:
        """Clear what an earlier export left, then get ready for ``job``."""
        ...

    def restore(self, client: Any, job: str, *, max_attempts: int) -> None:
        """Redis came back empty: recreate what :meth:`start` made, clear nothing."""
        ...

    def send(self, client: Any, tasks: Sequence[tuple[int, bytes]]) -> None:
        """Hand these encoded descriptors to Redis, in one round trip."""
        ...

    def receive(self, client: Any) -> list[bytes]:
        """Encoded results and failures, waiting at most BLOCK_SECONDS for one."""
        ...

    def check(self, client: Any, in_flight: Sequence[int]) -> Check:
        """Look at the chunks in flight (and at dead workers)."""
        ...

    def written(self, client: Any, indexes: Sequence[int]) -> None:
        """These chunks are in the file: forget what Redis keeps of them."""
        ...

    def close(self) -> None:
        """Release connections of the design's own (a Pub/Sub subscription)."""
        ...


@dataclass(frozen=True, slots=True)
class Held:
    """A descriptor a worker took, with what the design needs to answer it."""

    task: Task
    token: Any


class WorkerHalf(Protocol):
    """A worker's side of one design."""

    #: Whether :meth:`take` must be called even with no free slot (a
    #: subscriber must keep reading, or Redis cuts it off).
    reads_always: bool

    def take(self, client: Any, room: Callable[[], int]) -> list[Held]:
        """Up to ``room()`` descriptors, waiting at most BLOCK_SECONDS for one.

        ``room`` may be called again after waiting (slots free up meanwhile).
        """
        ...

    def answer(self, client: Any, held: Held, frame: bytes) -> None:
        """Hand back the encoded result or failure of ``held``, and let it go."""
        ...

    def renew(self, pipe: Any, held: Sequence[Held]) -> None:
        """Add commands to the heartbeat pipeline that keep ``held`` ours."""
        ...

    def leave(self, client: Any, held: Sequence[Held]) -> None:
        """On a clean exit: hand back what will not be answered."""
        ...

    def close(self) -> None:
        """Release connections of the design's own."""
        ...


#: Makes a design's coordinator half from a client and the keys.
MakeCoordinator = Callable[[Any, Keys], CoordinatorHalf]
#: Makes a design's worker half from a client, the keys and the worker's name.
MakeWorker = Callable[[Any, Keys, str], WorkerHalf]
