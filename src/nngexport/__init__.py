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
