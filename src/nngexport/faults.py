"""Fault injection: run an export while hurting its workers, and check the file.

Used by the fault tests, ``scripts/soak.py`` and the benchmark. A trial
starts local worker processes, runs an export of a synthetic table, and when
a chosen fraction of the chunks is written, hurts one worker chosen at
random:

- ``kill``: SIGKILL. Its connection drops; its chunks must be re-issued.
- ``stop``: SIGSTOP, then SIGCONT once the coordinator counted it lost (it
  stopped answering surveys) and so re-issued its chunks. Its late results
  must be dropped as duplicates.

The output is then compared, row by row, with an in-process export of the
same table.
"""

from __future__ import annotations

import csv
import random
import signal
import statistics
import tempfile
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from unittest.mock import patch

import trio

from .coordinator import open_coordinator
from .local import open_local_workers
from .output import AtomicOutput
from .progress import ExportSummary, Progress
from .sink import export_in_process

FAULTS = ("kill", "stop")
#: How long a stall trial holds its last write for a resumed worker's late
#: answer; it comes within milliseconds of the resume, unless it is lost.
LATE_ANSWER_TIMEOUT = 30.0

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class TrialResult:
    """What one trial did and found."""

    seed: int
    fault: str
    victim_pid: int
    identical: bool
    rows_lost: int
    rows_doubled: int
    summary: ExportSummary


@dataclass(frozen=True, slots=True)
class SoakReport:
    """Trials summed up."""

    trials: int
    identical: int
    rows_lost: int
    rows_doubled: int
    reissued: int
    duplicates: int
    recoveries: tuple[float, ...]

    def lines(self) -> list[str]:
        """The report as text, one fact a line."""
        median = statistics.median(self.recoveries) if self.recoveries else None
        worst = max(self.recoveries) if self.recoveries else None
        return [
            f"trials:            {self.trials}",
            f"outputs identical: {self.identical}",
            f"rows lost:         {self.rows_lost}",
            f"rows doubled:      {self.rows_doubled}",
            f"chunks re-issued:  {self.reissued}",
            f"duplicates dropped: {self.duplicates}",
            "recovery (s, last sign of life to re-send):"
            f" median {_seconds(median)}, worst {_seconds(worst)}"
            f" over {len(self.recoveries)} re-sent chunks",
        ]


async def beside(
    main: Callable[[], Awaitable[_T]], side: Callable[[], Awaitable[object]]
) -> _T:
    """``await main()`` while ``side()`` runs beside it (a fault to inject).

    ``side`` is cancelled when ``main`` ends, and ``main``'s error is raised
    as itself, not wrapped in an exception group.
    """
    results: list[_T] = []
    errors: list[Exception] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(side)
        try:
            results.append(await main())
        except Exception as exc:
            errors.append(exc)
        nursery.cancel_scope.cancel()
    if errors:
        raise errors[0]
    return results[0]


@contextmanager
def before_each_write(
    hook: Callable[[AtomicOutput, bytes | memoryview], None],
) -> Iterator[None]:
    """Within the block, ``hook(output, data)`` runs before each write to any output.

    It runs in the writer's thread, so a hook that blocks holds the writer and
    not the event loop: the way faults and tests stall, pace or watch a disk.
    """
    write = AtomicOutput.write

    def hooked_write(output: AtomicOutput, data: bytes | memoryview) -> None:
        hook(output, data)
        write(output, data)

    with patch.object(AtomicOutput, "write", hooked_write):
        yield


@contextmanager
def slow_disk(seconds: float) -> Iterator[threading.Event]:
    """Within the block, the first write of a chunk to any output takes ``seconds``.

    The injected fault of a slow disk: the write runs in the writer's thread,
    so the writer waits and the event loop does not. Yields an event that is
    set when the stall begins. The header's write is not stalled.
    """
    stalled = threading.Event()

    def stall(output: AtomicOutput, data: bytes | memoryview) -> None:
        if output.bytes_written and not stalled.is_set():
            stalled.set()
            threading.Event().wait(seconds)

    with before_each_write(stall):
        yield stalled


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summarise(results: list[TrialResult]) -> SoakReport:
    """Add up the trials."""
    return SoakReport(
        trials=len(results),
        identical=sum(r.identical for r in results),
        rows_lost=sum(r.rows_lost for r in results),
        rows_doubled=sum(r.rows_doubled for r in results),
        reissued=sum(r.summary.reissued for r in results),
        duplicates=sum(r.summary.duplicates for r in results),
        recoveries=tuple(t for r in results for t in r.summary.recoveries),
    )


def compare_rows(reference: Path, output: Path) -> tuple[int, int]:
    """Rows of ``reference`` missing from ``output``, and rows in it too often."""
    expected = _row_counts(reference)
    found = _row_counts(output)
    lost = sum((expected - found).values())
    doubled = sum((found - expected).values())
    return lost, doubled


def _row_counts(path: Path) -> Counter[tuple[str, ...]]:
    with path.open(newline="", encoding="utf-8") as file:
        return Counter(tuple(row) for row in csv.reader(file))


async def run_trial(
    seed: int,
    *,
    fault: str,
    workers: int = 4,
    rows: int = 200_000,
    chunk_rows: int = 2_000,
    directory: Path | None = None,
) -> TrialResult:
    """Run one export with ``fault`` done to a random worker; check the file."""
    if fault not in FAULTS:
        raise ValueError(f"fault must be one of {FAULTS}, got {fault!r}")
    rng = random.Random(seed)
    source = f"synthetic:?rows={rows}&seed={seed}"
    chunks = -(-rows // chunk_rows)
    # Hurt a worker somewhere in the first two thirds, so work remains.
    threshold = rng.randint(1, max(1, chunks * 2 // 3))
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        reference = Path(scratch, "reference.csv")
        output = Path(scratch, "output.csv")
        expected = await export_in_process(source, reference, chunk_rows=chunk_rows)
        reached = trio.Event()
        noticed = trio.Event()
        latest: list[Progress] = []
        late = threading.Event()

        def watch(progress: Progress) -> None:
            latest[:] = [progress]
            if progress.chunks_done >= threshold:
                reached.set()
            # Not on the first re-issue: a descriptor nobody acknowledged
            # comes back sooner than a stall is noticed, and resuming the
            # worker then would hide the stall.
            if progress.workers_lost:
                noticed.set()
            if progress.duplicates:
                late.set()

        def last_write_waits(output: AtomicOutput, data: bytes | memoryview) -> None:
            # A re-issued chunk has two holders, and both answer: the slower
            # answer is a duplicate. Unless the export ends first, so hold
            # its last write until that answer came, to test it is dropped.
            last = output.bytes_written + len(data) == expected.bytes
            if last and fault == "stop" and latest and latest[0].reissued:
                late.wait(timeout=LATE_ANSWER_TIMEOUT)

        async with (
            open_coordinator() as coordinator,
            open_local_workers(
                coordinator.endpoint, workers, allow=["synthetic:*"]
            ) as processes,
        ):
            victim = rng.choice(processes)

            async def hurt() -> None:
                await reached.wait()
                if fault == "kill":
                    victim.send_signal(signal.SIGKILL)
                    return
                victim.send_signal(signal.SIGSTOP)
                try:
                    # Resume it once it was counted lost, or when the export
                    # ends (it may have held nothing).
                    await noticed.wait()
                finally:
                    victim.send_signal(signal.SIGCONT)

            with before_each_write(last_write_waits):
                summary = await beside(
                    lambda: coordinator.export(
                        source,
                        output,
                        chunk_rows=chunk_rows,
                        min_workers=workers,
                        on_progress=watch,
                    ),
                    hurt,
                )
        identical, lost, doubled = await trio.to_thread.run_sync(
            _check, reference, output
        )
    return TrialResult(seed, fault, victim.pid, identical, lost, doubled, summary)


def _check(reference: Path, output: Path) -> tuple[bool, int, int]:
    if output.read_bytes() == reference.read_bytes():
        return True, 0, 0
    return False, *compare_rows(reference, output)
