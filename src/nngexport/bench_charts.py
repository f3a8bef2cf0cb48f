"""PNG charts of a bench: throughput, scaling with workers, peak memory.

matplotlib is an optional dependency (``pip install 'nngexport[plots]'``),
imported only when charts are drawn. Each figure is a plain
:class:`matplotlib.figure.Figure` on an Agg canvas, never a pyplot figure, so
drawing needs no display, touches no global state and leaves nothing open
to close.

The numbers agree with the tables of :func:`nngexport.bench.report`: failed
runs are left out, and a rate is the median bytes (or rows) of a set of runs
over their median seconds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .bench import Case, Run
from .errors import OutputError, UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The design drawn as a reference line on the scaling chart.
REFERENCE_DESIGN = "in-process"
#: The workload whose cases differ only in their worker count.
SCALING_WORKLOAD = "realistic"
#: Resolution of the PNG files, in dots per inch.
DPI = 120

_MIB = 2**20
_MB = 1e6
# One colour per memory figure; designs are told apart by position here.
_MEMORY_COLOURS = ("#355c7d", "#6c8ebf", "#c06c84")


def require_matplotlib() -> None:
    """Raise :class:`UsageError` unless matplotlib can be imported.

    Lets a caller refuse a request for charts before a long bench, not after.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise UsageError(
            "charts need matplotlib, which is not installed;"
            " pip install 'nngexport[plots]'"
        ) from error


def write_charts(runs: Sequence[Run], directory: Path) -> list[Path]:
    """Draw the charts ``runs`` hold data for, as PNG files in ``directory``.

    ``throughput.png`` shows the median MB/s of CSV of each design, one group
    of bars per case and one panel per workload. ``scaling.png`` shows the
    median rows/s of the realistic workload against worker count, one line per
    design, with the in-process export as a dashed reference line.
    ``memory.png`` shows, per design, the largest coordinator and worker peak
    RSS and Redis peak over all its runs. A chart with no data is not
    written: scaling without a realistic case run by a worker design, any
    chart when every run failed. ``directory`` is created if need be.

    Drawing is CPU-bound (about a second); from Trio, call this through
    ``trio.to_thread.run_sync``.

    Returns:
        The paths written, in the order above.

    Raises:
        UsageError: matplotlib is not installed.
        OutputError: ``directory`` or a chart in it cannot be written.
    """
    require_matplotlib()
    done = [run for run in runs if not run.error and run.seconds > 0]
    if not done:
        return []
    colours = {
        design: f"C{index % 10}"
        for index, design in enumerate(dict.fromkeys(run.design for run in runs))
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot create chart directory {str(directory)!r}: {error.strerror}"
        ) from error
    drawn = {
        "throughput.png": _throughput(runs, done, colours),
        "scaling.png": _scaling(done, colours),
        "memory.png": _memory(done),
    }
    written: list[Path] = []
    for name, figure in drawn.items():
        if figure is not None:
            written.append(_save(figure, directory / name))
    return written


def _throughput(
    runs: Sequence[Run], done: Sequence[Run], colours: dict[str, str]
) -> Figure:
    cases = list(dict.fromkeys(run.case for run in runs))
    workloads = list(dict.fromkeys(case.workload for case in cases))
    width_ratios = [sum(c.workload == w for c in cases) for w in workloads]
    bars = sum(len({r.design for r in runs if r.case == c}) for c in cases)
    figure = _figure(width=max(7.0, 1.5 + 0.3 * bars + 0.5 * len(cases)))
    panels = figure.subplots(
        1, len(workloads), squeeze=False, width_ratios=width_ratios
    )
    for axes, workload in zip(panels[0], workloads, strict=True):
        mine = [case for case in cases if case.workload == workload]
        designs = list(dict.fromkeys(r.design for r in runs if r.case in mine))
        slot = 0.8 / len(designs)
        for index, case in enumerate(mine):
            for k, design in enumerate(designs):
                x = index + (k - (len(designs) - 1) / 2) * slot
                these = [r for r in done if r.case == case and r.design == design]
                if these:
                    rate = _rate(these, lambda r: r.bytes) / _MB
                    axes.bar(x, rate, slot, color=colours[design])
                elif any(r.case == case and r.design == design for r in runs):
                    # Every run of it failed: say so where its bar would be.
                    axes.text(
                        x,
                        0,
                        " failed",
                        rotation=90,
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        color=colours[design],
                    )
        axes.set_xticks(range(len(mine)), [_tick(case) for case in mine], fontsize=8)
        axes.set_title(workload)
        axes.set_ylabel("MB/s of CSV (median)")
        axes.set_ylim(bottom=0)
    figure.suptitle("Export throughput by design")
    _legend(figure, colours)
    return figure


def _scaling(done: Sequence[Run], colours: dict[str, str]) -> Figure | None:
    realistic = [run for run in done if run.case.workload == SCALING_WORKLOAD]
    designs = [
        d for d in dict.fromkeys(r.design for r in realistic) if d != REFERENCE_DESIGN
    ]
    if not designs:
        return None
    figure = _figure(width=7.0)
    axes = figure.subplots()
    for design in designs:
        mine = [run for run in realistic if run.design == design]
        workers = sorted({run.case.workers for run in mine})
        rates = [
            _rate([r for r in mine if r.case.workers == n], lambda r: r.case.rows)
            for n in workers
        ]
        axes.plot(workers, rates, marker="o", color=colours[design], label=design)
    reference = [run for run in realistic if run.design == REFERENCE_DESIGN]
    if reference:
        axes.axhline(
            _rate(reference, lambda r: r.case.rows),
            linestyle="--",
            color=colours[REFERENCE_DESIGN],
            label=f"{REFERENCE_DESIGN} (no workers)",
        )
    from matplotlib.ticker import StrMethodFormatter

    axes.set_xticks(sorted({r.case.workers for r in realistic if r.design in designs}))
    axes.set_xlabel("workers")
    axes.set_ylabel("rows/s (median)")
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes.set_ylim(bottom=0)
    rows = {run.case.rows for run in realistic}
    size = f"{rows.pop():,}-row " if len(rows) == 1 else ""
    axes.set_title(f"Scaling of the {size}{SCALING_WORKLOAD} export with workers")
    axes.legend(fontsize=8)
    return figure


def _memory(done: Sequence[Run]) -> Figure:
    designs = list(dict.fromkeys(run.design for run in done))
    series: dict[str, list[float | None]] = {
        "coordinator peak RSS (MiB)": [],
        "largest worker peak RSS (MiB)": [],
        "Redis used_memory_peak (MB)": [],
    }
    columns = list(series.values())
    for design in designs:
        mine = [run for run in done if run.design == design]
        columns[0].append(max(r.coordinator_rss for r in mine) / _MIB)
        # A design without workers (in-process) reports a worker RSS of 0.
        worker = max(r.worker_rss for r in mine)
        columns[1].append(worker / _MIB if worker else None)
        peaks = [r.redis_peak for r in mine if r.redis_peak is not None]
        columns[2].append(max(peaks) / _MB if peaks else None)
    figure = _figure(width=max(7.0, 1.5 + 1.2 * len(designs)))
    axes = figure.subplots()
    slot = 0.8 / len(series)
    for k, ((label, values), colour) in enumerate(
        zip(series.items(), _MEMORY_COLOURS, strict=True)
    ):
        shown = [(i, v) for i, v in enumerate(values) if v is not None]
        if not shown:
            continue
        xs = [i + (k - (len(series) - 1) / 2) * slot for i, _ in shown]
        bars = axes.bar(xs, [v for _, v in shown], slot, color=colour, label=label)
        axes.bar_label(bars, fmt="{:,.0f}", fontsize=7)
    axes.set_xticks(range(len(designs)), designs, fontsize=8)
    axes.set_xlabel("design")
    axes.set_ylabel("peak memory (MiB; Redis in MB)")
    axes.set_title("Peak memory by design (largest over all cases)")
    # Below the plot, so that it hides no bar's value.
    figure.legend(loc="outside lower center", ncols=len(series), fontsize=8)
    return figure


def _rate(runs: Sequence[Run], amount: Callable[[Run], float]) -> float:
    """Median ``amount`` per median second, as the report's tables compute it."""
    seconds = statistics.median(run.seconds for run in runs)
    return statistics.median(amount(run) for run in runs) / seconds


def _tick(case: Case) -> str:
    workers = "1 worker" if case.workers == 1 else f"{case.workers} workers"
    return f"{case.rows:,} rows\nchunks of {case.chunk_rows:,}\n{workers}"


def _figure(*, width: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, 4.8), layout="constrained")


def _legend(figure: Figure, colours: dict[str, str]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=colour, label=design) for design, colour in colours.items()]
    figure.legend(handles=handles, loc="outside right upper", fontsize=8)


def _save(figure: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    try:
        figure.savefig(path, dpi=DPI)
    except OSError as error:
        raise OutputError(
            f"cannot write chart {str(path)!r}: {error.strerror}"
        ) from error
    return path
