"""Who is working: workers as the surveys see them.

A worker joins when it first answers a survey and is live while it answered
one of the last ``live_rounds`` surveys. It is lost when it misses that many
in a row (it died, stalled or was cut off) or at once when the connection its
answers came over closes. A lost worker that answers again simply joins
again.

This module does no I/O and reads no clock: the coordinator feeds it survey
rounds, answers, closed connections and the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wire import Hello

#: A worker stays live while it answered one of this many latest surveys.
LIVE_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker as its latest survey answer described it."""

    worker: str
    slots: int
    busy: int
    pid: int
    host: str


@dataclass(slots=True)
class _Member:
    info: WorkerInfo
    round: int
    pipe: int | None


class Membership:
    """The live workers, updated survey by survey."""

    def __init__(self, *, live_rounds: int = LIVE_ROUNDS) -> None:
        if live_rounds < 1:
            raise ValueError(f"live_rounds must be at least 1, got {live_rounds!r}")
        self._live_rounds = live_rounds
        self._round = 0
        self._members: dict[str, _Member] = {}
        self._last_seen: dict[str, float] = {}

    def start_round(self) -> None:
        """A new survey went out."""
        self._round += 1

    def answered(self, hello: Hello, *, pipe: int | None, now: float) -> bool:
        """Record a survey answer; return whether the worker just joined."""
        info = WorkerInfo(hello.worker, hello.slots, hello.busy, hello.pid, hello.host)
        joined = hello.worker not in self._members
        self._members[hello.worker] = _Member(info, self._round, pipe)
        self._last_seen[hello.worker] = now
        return joined

    def end_round(self) -> list[str]:
        """The survey ended: drop and return the workers that missed too many."""
        oldest = self._round - self._live_rounds
        lost = [name for name, m in self._members.items() if m.round <= oldest]
        for name in lost:
            del self._members[name]
        return lost

    def pipe_closed(self, pipe: int) -> str | None:
        """A survey connection closed: drop and return the worker that used it."""
        for name, member in self._members.items():
            if member.pipe == pipe:
                del self._members[name]
                return name
        return None

    def live(self) -> tuple[WorkerInfo, ...]:
        """The live workers."""
        return tuple(member.info for member in self._members.values())

    def slots(self) -> int:
        """The live workers' slots in total."""
        return sum(member.info.slots for member in self._members.values())

    def last_seen(self, worker: str) -> float | None:
        """When ``worker`` last answered a survey, even if it is lost now."""
        return self._last_seen.get(worker)
