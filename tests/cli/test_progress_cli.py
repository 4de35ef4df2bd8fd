"""Long commands are never silent for more than ~10 s off a terminal, keep progress off stdout
(so --json parses) and are silent with --quiet; read from time-stamped stderr of real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_lab_cli import SMALL
from tests.timed import run_timed


@pytest.mark.slow
def test_train_reports_progress_at_least_every_ten_seconds(run, db_path: Path) -> None:
    assert run("lab", "seed", "--n", "10", "--classes", "2TM").exit_code == 0
    r = run_timed(
        "--db", db_path, "train", "--size", "small", "--members", "2", "--epochs", "4", "--include-virtual"
    )
    assert r.rc == 0, r.stderr
    assert r.longest_silence <= 10, r.lines
    if r.end > 6:  # a run this long has shown where it is
        assert any("training: " in line for _, line in r.lines)
    assert "training:" not in r.stdout and r.stdout.startswith("model version 1")
    quiet = run_timed(
        "--db",
        db_path,
        "-q",
        "train",
        "--size",
        "small",
        "--members",
        "1",
        "--epochs",
        "1",
        "--include-virtual",
    )
    assert quiet.rc == 0 and quiet.lines == []


@pytest.mark.slow
def test_simulate_reports_progress_and_keeps_json_clean(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL)
    r = run_timed(
        "--db",
        tmp_path / "lab.sqlite",
        "simulate",
        "--campaign",
        spec,
        "--rounds",
        "2",
        "--batch",
        "2",
        "--strategies",
        "ucb",
        "--seeds",
        "1",
        "--n-start",
        "8",
        "--start-epochs",
        "2",
        "--out",
        tmp_path / "sim",
        "--json",
    )
    assert r.rc == 0, r.stderr
    assert r.longest_silence <= 10, r.lines
    assert json.loads(r.stdout)["runs"][0]["strategy"] == "ucb"
