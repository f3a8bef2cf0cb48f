"""The export, as one call: in-process, or with local and remote NNG workers."""

from __future__ import annotations

import os
from contextlib import AsyncExitStack

import trio

from .allow import pattern_for
from .auth import Sealer
from .coordinator import Coordinator, open_coordinator
from .defaults import DEFAULT_PREFIX, DISCOVER_TIMEOUT, MAX_ATTEMPTS, WORKER_TIMEOUT
from .designs import check_design
from .designs.redis_coordinator import RedisCoordinator, open_redis_coordinator
from .destination import check_destination
from .errors import UsageError
from .job import ProgressCallback, check_source, plan_job
from .local import open_local_workers
from .plan import DEFAULT_CHUNK_ROWS
from .progress import ExportSummary
from .sink import export_in_process, prepare
from .tls import TlsFiles, is_tls


async def run_export(
    source: str,
    output: str | os.PathLike[str],
    *,
    workers: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    listen: str | None = None,
    min_workers: int | None = None,
    slots: int = 1,
    discover_timeout: float = DISCOVER_TIMEOUT,
    worker_timeout: float = WORKER_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
    resume: bool = False,
    design: str = "nng",
    redis: str | None = None,
    redis_prefix: str = DEFAULT_PREFIX,
    secret: Sealer | None = None,
    tls: TlsFiles | None = None,
    on_progress: ProgressCallback | None = None,
) -> ExportSummary:
    """Export ``source`` to the CSV file ``output``; the Trio form of :func:`export`.

    Args:
        source: A source URL (``sqlite:///...?table=...`` or ``synthetic:?rows=N``).
        output: The CSV file to write. Written under a temporary name and
            renamed at the end; left untouched if the export fails.
        workers: Local worker processes to start. ``0`` with no ``listen``
            renders in this process with no NNG at all (the reference).
        chunk_rows: Rows per chunk.
        listen: An address for workers to dial (``tcp://HOST:PORT`` lets
            workers on other machines join); default: a private ipc:// one.
        min_workers: Workers to wait for before dispatching; default
            ``workers``, or 1 when only external workers are expected.
        slots: Chunks each local worker renders at once.
        discover_timeout: Seconds to wait for ``min_workers``.
        worker_timeout: Seconds to go on with no live worker before failing.
        max_attempts: Times a chunk may fail or lose its worker before the
            export fails.
        resume: Continue an interrupted export to ``output`` from its
            journal, if there is one.
        design: ``"nng"``, or a Redis design: ``"redis-pubsub"``,
            ``"redis-streams"`` or ``"redis-lists"``. With a Redis design,
            ``workers=0`` means external workers only (``nngexport worker
            --design ... --redis ...``), not an in-process export.
        redis: The Redis URL a Redis design uses (``redis://HOST:PORT/DB``).
        redis_prefix: The prefix of every Redis key and channel; two exports
            on one Redis at once need two prefixes.
        secret: NNG only: shared-secret mode, every frame sealed with this
            key (:func:`nngexport.auth.load_secret`); local workers get it
            through their environment.
        tls: NNG only, with a ``tls+tcp://`` ``listen`` address: the
            coordinator's certificate, key and CA (local workers use the
            same files).
        on_progress: Called with a :class:`~nngexport.progress.Progress` each
            time chunks are written.

    Raises:
        ExportError: a subclass saying what went wrong; see :mod:`nngexport.errors`.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise UsageError(
            f"workers must be a whole number of at least 0, got {workers!r}"
        )
    if slots < 1:
        raise UsageError(f"slots must be at least 1, got {slots!r}")
    check_design(design, redis)
    if redis is not None and listen is not None:
        raise UsageError("--listen is for --design nng; Redis designs use --redis")
    if redis is not None and (secret is not None or tls is not None):
        raise UsageError(
            "the shared secret and TLS options are for --design nng; secure a"
            " Redis design with Redis's own AUTH and TLS"
        )
    if tls is not None and (listen is None or not is_tls(listen)):
        raise UsageError(
            "--tls-cert, --tls-key and --tls-ca need --listen tls+tcp://..."
        )
    if workers == 0 and listen is None and redis is None:
        return await export_in_process(
            source,
            output,
            chunk_rows=chunk_rows,
            resume=resume,
            on_progress=on_progress,
        )
    needed = min_workers if min_workers is not None else max(workers, 1)
    if needed < 1:
        raise UsageError(f"min_workers must be at least 1, got {needed!r}")
    started = trio.current_time()
    # Quick checks first, so bad input fails before any worker starts.
    await trio.to_thread.run_sync(check_source, source)
    await trio.to_thread.run_sync(lambda: check_destination(output, resume=resume))
    async with AsyncExitStack() as stack:
        coordinator: Coordinator | RedisCoordinator
        if redis is None:
            coordinator = await stack.enter_async_context(
                open_coordinator(listen, secret=secret, tls=tls)
            )
            target = coordinator.endpoint
        else:
            coordinator = await stack.enter_async_context(
                open_redis_coordinator(redis, design, prefix=redis_prefix)
            )
            target = redis
        await stack.enter_async_context(
            open_local_workers(
                target,
                workers,
                slots=slots,
                design=design,
                prefix=redis_prefix,
                allow=[pattern_for(source)],
                secret=secret,
                tls=tls,
            )
        )
        # Workers take a moment to start; plan the export meanwhile.
        plan = await trio.to_thread.run_sync(plan_job, source, chunk_rows)
        destination = await prepare(plan, output, resume=resume)
        return await coordinator.export_plan(
            plan,
            destination,
            started=started,
            min_workers=needed,
            discover_timeout=discover_timeout,
            worker_timeout=worker_timeout,
            max_attempts=max_attempts,
            on_progress=on_progress,
            # Ours alone: it may wind down while the file is committed.
            last=True,
        )


def export(
    source: str,
    output: str | os.PathLike[str],
    *,
    workers: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    listen: str | None = None,
    min_workers: int | None = None,
    slots: int = 1,
    discover_timeout: float = DISCOVER_TIMEOUT,
    worker_timeout: float = WORKER_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
    resume: bool = False,
    design: str = "nng",
    redis: str | None = None,
    redis_prefix: str = DEFAULT_PREFIX,
    secret: Sealer | None = None,
    tls: TlsFiles | None = None,
    on_progress: ProgressCallback | None = None,
) -> ExportSummary:
    """Export ``source`` to ``output`` from plain, non-Trio code. Blocks.

    Runs :func:`run_export` in a fresh Trio event loop; see it for the
    arguments. Must not be called from inside a running Trio loop.
    """
    return trio.run(
        lambda: run_export(
            source,
            output,
            workers=workers,
            chunk_rows=chunk_rows,
            listen=listen,
            min_workers=min_workers,
            slots=slots,
            discover_timeout=discover_timeout,
            worker_timeout=worker_timeout,
            max_attempts=max_attempts,
            resume=resume,
            design=design,
            redis=redis,
            redis_prefix=redis_prefix,
            secret=secret,
            tls=tls,
            on_progress=on_progress,
        )
    )
