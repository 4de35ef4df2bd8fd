"""The command line starts the same way as the ``drxlab`` script and as ``python -m drxlab``."""

from __future__ import annotations

import subprocess
import sys

import drxlab


def test_python_dash_m_drxlab_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "drxlab", "--version"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert drxlab.__version__ in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "drxlab", "no-such-command"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "No such command" in bad.stderr
