"""How many CPU threads torch may use: one per core that other processes leave free.

torch's default is one thread per core. On a machine where another process keeps a core busy,
every parallel region then waits at its barrier for the thread that lost its core, and a
screening runs tens of times slower than with one thread (35 vs 1,215 compositions/s on 2 cores
with one competing process). So each heavy command measures how busy the cores are when it starts
and uses only the free ones, at least one.

Precedence: ``--threads N`` (or ``$DRXLAB_THREADS``), then ``$OMP_NUM_THREADS`` (a choice the
user already made), then the free cores.

Example:
    >>> choose_threads(None, cores=2, busy=1.0)
    1
    >>> choose_threads(None, cores=16, busy=3.4)
    13
    >>> choose_threads(4, cores=2, busy=2.0)
    4
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

ENV = "DRXLAB_THREADS"
SAMPLE_S = 0.2  # how long the cores' busy time is sampled, s
BUSY_ROUNDING = 0.5  # a core busy at least half the time counts as taken (its thread would stall the others)


@dataclass(frozen=True)
class ThreadChoice:
    """The threads a command runs with and why.

    Attributes:
        threads: intra-op threads given to torch.
        cores: cores this process may run on (affinity and cgroup quota).
        busy: cores kept busy by other processes when the command started (None if not measured).
        source: ``"--threads"``, ``"OMP_NUM_THREADS"`` or ``"free cores"``.
    """

    threads: int
    cores: int
    busy: float | None
    source: str

    def describe(self) -> str:
        if self.busy is None:
            return f"{self.threads} thread(s) ({self.source}; {self.cores} cores)"
        return f"{self.threads} thread(s) ({self.source}: {self.cores} cores, {self.busy:.1f} busy)"


def choose_threads(requested: int | None, *, cores: int, busy: float) -> int:
    """Threads for a command: ``requested`` if given, else the cores not busy, at least 1."""
    if requested is not None:
        return max(1, int(requested))
    taken = math.floor(max(0.0, busy) + BUSY_ROUNDING)
    return max(1, min(cores, cores - taken))


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def _cpu_times() -> dict[int, tuple[int, int]]:
    """Per-CPU (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            ticks = [int(v) for v in vals]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
            out[int(name[3:])] = (sum(ticks[:8]) - idle, sum(ticks[:8]))
    return out


def busy_cores(interval: float = SAMPLE_S) -> float:
    """Cores other processes keep busy now: CPU time used on our cores over ``interval`` seconds.

    This process sleeps while sampling, so what is measured is everyone else. Where /proc/stat
    is missing, the 1-minute load average stands in (it lags a new load by a minute).
    """
    try:
        cpus = os.sched_getaffinity(0)
        t0 = _cpu_times()
        time.sleep(interval)
        t1 = _cpu_times()
    except (OSError, AttributeError, ValueError, IndexError):
        try:
            return float(os.getloadavg()[0])
        except (OSError, AttributeError):
            return 0.0
    busy = total = 0
    for cpu in cpus & t0.keys() & t1.keys():
        busy += t1[cpu][0] - t0[cpu][0]
        total += t1[cpu][1] - t0[cpu][1]
    return len(cpus) * busy / total if total else 0.0


def decide(requested: int | None = None) -> ThreadChoice:
    """What :func:`use_threads` would choose now, without applying it."""
    cores = usable_cores()
    if requested is not None:
        return ThreadChoice(choose_threads(requested, cores=cores, busy=0.0), cores, None, "--threads")
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        return ThreadChoice(int(omp), cores, None, "OMP_NUM_THREADS")
    busy = min(float(cores), busy_cores())
    return ThreadChoice(choose_threads(None, cores=cores, busy=busy), cores, busy, "free cores")


_requested: int | None = None  # the running command's --threads / $DRXLAB_THREADS


def requested_threads() -> int | None:
    """The threads the user asked for explicitly in this command, if any (training honours it
    over its own default of one thread)."""
    return _requested


def apply_threads(threads: int) -> None:
    """Give torch ``threads`` intra-op threads and as many inter-op threads (the latter only once
    per process: torch refuses to change them after its first parallel work)."""
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(threads)


def use_threads(requested: int | None = None) -> ThreadChoice:
    """Choose the threads for this command (see the module docstring) and give them to torch."""
    global _requested
    choice = decide(requested)
    _requested = requested
    apply_threads(choice.threads)
    return choice
