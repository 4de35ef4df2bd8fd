"""The report opens in a real headless browser, offline, without console errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

from drxlab.report.render import HEADINGS
from tests.conftest import require_binary

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=3000",
    "--dump-dom",
]


def test_report_renders_in_headless_chromium_without_console_errors(
    run, three_rounds, tmp_path: Path
) -> None:
    chromium = require_binary("chromium", "chromium-browser", "google-chrome")
    out = tmp_path / "r.html"
    assert run("report", "--campaign", "he-drx", "--out", out, db=three_rounds.path).exit_code == 0
    proc = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", out.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    for heading in HEADINGS.values():
        assert heading in dom
    assert dom.count("<img") == 5
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln]
    assert not console, console
