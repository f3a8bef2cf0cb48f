"""What every design shares: the plan of an export, and rendering one chunk.

A design (in-process, NNG, later Redis) only moves chunk descriptors out and
rendered chunks back. Planning and rendering live here, ordered writing in
:mod:`nngexport.sink`, so every design produces the same bytes.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .allow import SourceNotAllowedError, SourcePolicy
from .errors import ExportError, SourceError
from .plan import Chunk
from .progress import Progress
from .render import RenderedChunk, render_chunk
from .sources import open_source
from .wire import Failure, Result, Task

logger = logging.getLogger(__name__)

#: Longest error text a Failure carries back.
MAX_ERROR_TEXT = 2000
#: How the error of a Failure for a source a worker refused begins.
REFUSED_PREFIX = "not allowed: "

ProgressCallback = Callable[[Progress], object]


class RecoveryCounters(Protocol):
    """What a design that recovers from faults reports (see run.RunStatistics)."""

    @property
    def reissued(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def workers_lost(self) -> int: ...
    @property
    def recoveries(self) -> tuple[float, ...]: ...


@dataclass(frozen=True, slots=True)
class JobPlan:
    """An export, planned: which source, which columns, which chunks.

    Attributes:
        job: A random id; every message of this export carries it.
        source: The canonical source URL that workers open.
        columns: The column names, in output order.
        chunks: The chunks, in output order.
        chunk_rows: The chunk size the plan was made with.
    """

    job: str
    source: str
    columns: tuple[str, ...]
    chunks: tuple[Chunk, ...]
    chunk_rows: int

    @property
    def rows(self) -> int:
        """Rows the plan expects."""
        return sum(chunk.rows for chunk in self.chunks)


def check_source(source_url: str) -> None:
    """Open and close the source: quick, and says what is wrong with it."""
    open_source(source_url).close()


def plan_job(source_url: str, chunk_rows: int) -> JobPlan:
    """Open the source, plan its chunks, close it. Blocks; may raise SourceError."""
    if (
        isinstance(chunk_rows, bool)
        or not isinstance(chunk_rows, int)
        or chunk_rows < 1
    ):
        raise SourceError(
            f"chunk size must be a positive number of rows, got {chunk_rows!r}"
        )
    source = open_source(source_url)
    try:
        chunks = source.plan(chunk_rows)
        return JobPlan(
            secrets.token_hex(8), source.url, source.columns, tuple(chunks), chunk_rows
        )
    finally:
        source.close()


def render_from_url(source_url: str, chunk: Chunk) -> RenderedChunk:
    """Open the source, render one chunk, close it. Blocks; runs in a thread.

    Opening per chunk keeps sources thread-confined (SQLite connections are)
    and costs well under a millisecond next to rendering thousands of rows.
    """
    source = open_source(source_url)
    try:
        return render_chunk(source, chunk)
    finally:
        source.close()


class Outcome(enum.Enum):
    """What became of a task, for a worker's counters."""

    RENDERED = "rendered"
    FAILED = "failed"
    REFUSED = "refused"


def outcome_of(reply: Result | Failure) -> Outcome:
    """Whether ``reply`` (from :func:`render_task`) rendered, failed or refused."""
    if isinstance(reply, Result):
        return Outcome.RENDERED
    if reply.error.startswith(REFUSED_PREFIX):
        return Outcome.REFUSED
    return Outcome.FAILED


def render_task(task: Task, worker: str, policy: SourcePolicy) -> Result | Failure:
    """What worker ``worker`` answers to ``task``. Blocks; runs in a thread.

    A source that ``policy`` does not allow is never opened: the answer is a
    :class:`~nngexport.wire.Failure` whose error starts with
    :data:`REFUSED_PREFIX`. A chunk that cannot be rendered (a source error,
    or any bug) is answered with a Failure saying why; the worker goes on.
    """
    try:
        policy.check(task.source, worker=worker)
    except SourceNotAllowedError as exc:
        logger.warning("chunk %s refused: %s", task.chunk.index, exc)
        error = f"{REFUSED_PREFIX}{exc}"
        return Failure(task.job, task.chunk.index, worker, error[:MAX_ERROR_TEXT])
    try:
        rendered = render_from_url(task.source, task.chunk)
    except ExportError as exc:
        logger.warning("chunk %s failed: %s", task.chunk.index, exc)
        error = str(exc)
    except Exception as exc:
        logger.exception("chunk %s failed unexpectedly", task.chunk.index)
        error = f"{type(exc).__name__}: {exc}"
    else:
        return Result(task.job, rendered.index, worker, rendered.rows, rendered.data)
    return Failure(task.job, task.chunk.index, worker, error[:MAX_ERROR_TEXT])
