"""CPU time of every thread of a command and of the processes it starts.

    python scripts/thread_cpu.py nngexport export SOURCE out.csv --workers 2 --quiet

Runs the command and reads ``/proc/PID/task/TID/stat`` of it and of all its
descendants every 20 ms; when it exits, prints each process's threads by
name with the CPU seconds (user + system) they had at the last look. A
thread that ends between two looks loses at most 20 ms. Processes are named
``coordinator`` (the command itself) and ``worker PID`` (an ``nngexport
worker``), so an export's CPU splits into rendering, Trio's main thread,
and NNG's own threads (``nng:*``). Linux only. Used for docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict

from nngexport.terminal import children_of

TICKS = os.sysconf("SC_CLK_TCK")
INTERVAL = 0.02


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read()


class Sampler:
    """The latest CPU seconds of each (process, thread) seen."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.roles: dict[int, str] = {}
        self.cpu: dict[tuple[int, int], tuple[str, float]] = {}

    def sample(self) -> None:
        todo = [self.root]
        while todo:
            pid = todo.pop()
            todo += children_of(pid)
            self._process(pid)

    def _process(self, pid: int) -> None:
        if pid not in self.roles:
            try:
                command = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
            except OSError:
                return
            if pid == self.root:
                self.roles[pid] = "coordinator"
            elif " worker" in command:
                self.roles[pid] = f"worker {pid}"
            elif command:
                self.roles[pid] = f"{command[:30]} {pid}"
            else:
                return  # exited before we knew it
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return
        for tid in tasks:
            try:
                stat = _read(f"/proc/{pid}/task/{tid}/stat")
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            seconds = (int(fields[11]) + int(fields[12])) / TICKS
            thread = "main" if int(tid) == pid else name
            self.cpu[(pid, int(tid))] = (thread, seconds)

    def report(self) -> str:
        totals: dict[tuple[str, str], float] = defaultdict(float)
        for (pid, _), (thread, seconds) in self.cpu.items():
            totals[(self.roles.get(pid, str(pid)), thread)] += seconds
        lines = [
            f"{role:<14} {thread:<24} {seconds:6.2f}"
            for (role, thread), seconds in sorted(totals.items())
            if seconds >= 0.005
        ]
        lines.append(f"{'total':<39} {sum(totals.values()):6.2f}")
        return "\n".join(lines)


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    child = subprocess.Popen(sys.argv[1:])
    sampler = Sampler(child.pid)
    while child.poll() is None:
        sampler.sample()
        time.sleep(INTERVAL)
    print(sampler.report())
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
