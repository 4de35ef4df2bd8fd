"""Run drxlab in a subprocess and time-stamp every stderr line (for "never silent > 10 s" tests)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# imports first, then a marker: the clock starts when the command starts working
SCRIPT = (
    "import sys\nfrom drxlab.cli.main import cli\nsys.stderr.write('@start\\n'); sys.stderr.flush()\n"
    "cli.main(args=sys.argv[1:], prog_name='drxlab')\n"
)


@dataclass
class Timed:
    rc: int
    stdout: str
    lines: list[tuple[float, str]]  # (seconds since @start, stderr line)
    end: float  # seconds since @start

    @property
    def longest_silence(self) -> float:
        times = [t for t, _ in self.lines] + [self.end]
        return max(b - a for a, b in itertools.pairwise(times)) if len(times) > 1 else self.end

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)


def run_timed(*args: str, env: dict[str, str] | None = None) -> Timed:
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DRXLAB_PROGRESS": "lines",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=ROOT,
    )
    lines: list[tuple[float, str]] = []
    start: list[float] = []

    def read() -> None:
        for line in proc.stderr:
            now = time.monotonic()
            if not start and line.strip() == "@start":
                start.append(now)
                continue
            lines.append((now, line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    stdout = proc.stdout.read()  # until the command exits (pytest's timeout guards a hang)
    proc.wait()
    reader.join(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    end = time.monotonic()
    t0 = start[0] if start else end
    return Timed(proc.returncode, stdout, [(t - t0, s) for t, s in lines], end - t0)
