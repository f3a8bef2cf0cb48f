"""Print the CPU time each chunk's rendering takes, in every nngexport process.

    PYTHONPATH=scripts/render_probe NNGEXPORT_RENDER_PROBE=1 \\
        nngexport export SOURCE out.csv --workers N --quiet 2> probe.txt

Python imports this file at start-up when its directory is on PYTHONPATH, so
it reaches the worker processes an export starts too. Each rendered chunk
prints ``RENDER pid thread-cpu-seconds wall-seconds`` to stderr; summing the
CPU column compares the rendering itself across ``--workers 0``, 1 and 2,
apart from everything around it (used for docs/benchmarks.md).
"""

from __future__ import annotations

import os
import sys
import time

if os.environ.get("NNGEXPORT_RENDER_PROBE"):
    import nngexport.job
    import nngexport.sink
    from nngexport.plan import Chunk
    from nngexport.render import RenderedChunk

    _render = nngexport.job.render_from_url

    def _probed(source_url: str, chunk: Chunk) -> RenderedChunk:
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            return _render(source_url, chunk)
        finally:
            sys.stderr.write(
                f"RENDER {os.getpid()} {time.thread_time() - cpu:.4f}"
                f" {time.perf_counter() - wall:.4f}\n"
            )

    nngexport.job.render_from_url = _probed
    # The in-process export calls its own import of the name.
    setattr(nngexport.sink, "render_from_url", _probed)  # noqa: B010
