"""nngexport: fan a big CSV export out to worker processes over NNG.

The library in four names:

- :func:`export`: one blocking call, for code that does not use Trio.
- :func:`run_export`: the same in a Trio program.
- :func:`open_coordinator`: a coordinator that lives as long as an
  ``async with`` block, for running several exports and managing workers.
- :func:`serve_worker`: a worker, for ``nursery.start``.

The same export over Redis, for comparison: ``design=`` and ``redis=`` on
:func:`export` and :func:`run_export`, or :func:`open_redis_coordinator` and
:func:`serve_redis_worker` (see ``docs/designs.md``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import export, run_export
    from .coordinator import Coordinator, CoordinatorStatistics, open_coordinator
    from .designs import DESIGNS
    from .designs.redis_common import RedisUnavailable
    from .designs.redis_coordinator import RedisCoordinator, open_redis_coordinator
    from .designs.redis_worker import RedisWorker, serve_redis_worker
    from .errors import (
        ChunkFailedError,
        ExportError,
        NoWorkersError,
        OutputError,
        ProtocolError,
        SourceError,
        UsageError,
    )
    from .local import open_local_workers
    from .membership import WorkerInfo
    from .plan import Chunk
    from .progress import ExportSummary, Progress
    from .sink import export_in_process
    from .worker import Worker, WorkerStatistics, serve_worker

#: Where each public name lives. They are imported when first used, so that
#: a worker process (``python -m nngexport worker``) does not import the
#: coordinator, the Redis designs and the bench it never runs.
_HOME = {
    "Chunk": ".plan",
    "ChunkFailedError": ".errors",
    "Coordinator": ".coordinator",
    "CoordinatorStatistics": ".coordinator",
    "DESIGNS": ".designs",
    "ExportError": ".errors",
    "ExportSummary": ".progress",
    "NoWorkersError": ".errors",
    "OutputError": ".errors",
    "Progress": ".progress",
    "ProtocolError": ".errors",
    "RedisCoordinator": ".designs.redis_coordinator",
    "RedisUnavailable": ".designs.redis_common",
    "RedisWorker": ".designs.redis_worker",
    "SourceError": ".errors",
    "UsageError": ".errors",
    "Worker": ".worker",
    "WorkerInfo": ".membership",
    "WorkerStatistics": ".worker",
    "export": ".api",
    "export_in_process": ".sink",
    "open_coordinator": ".coordinator",
    "open_local_workers": ".local",
    "open_redis_coordinator": ".designs.redis_coordinator",
    "run_export": ".api",
    "serve_redis_worker": ".designs.redis_worker",
    "serve_worker": ".worker",
}

__version__ = "0.1.0"

__all__ = [
    "DESIGNS",
    "Chunk",
    "ChunkFailedError",
    "Coordinator",
    "CoordinatorStatistics",
    "ExportError",
    "ExportSummary",
    "NoWorkersError",
    "OutputError",
    "Progress",
    "ProtocolError",
    "RedisCoordinator",
    "RedisUnavailable",
    "RedisWorker",
    "SourceError",
    "UsageError",
    "Worker",
    "WorkerInfo",
    "WorkerStatistics",
    "export",
    "export_in_process",
    "open_coordinator",
    "open_local_workers",
    "open_redis_coordinator",
    "run_export",
    "serve_redis_worker",
    "serve_worker",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
