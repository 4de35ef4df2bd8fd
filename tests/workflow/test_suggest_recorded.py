"""A suggestion round is reproducible across refactors: the same store and seed give the recorded batches.

The batches were recorded with drxlab before the code-health refactor (issue 13) on the authors'
released ensemble and their LMTO measurement (the later two again when pending samples began to
count, issue 17); any change to screening, acquisition or exclusion
that alters a suggestion shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import UPSTREAM, require_shared

CAMPAIGN = Path(__file__).resolve().parents[2] / "campaigns" / "li-mn-o-f.toml"
# (composition, predicted capacity mAh/g, σ_Q mAh/g) per kind, asked in this order with --seed 7, -n 4
RECORDED = {
    "ucb": [
        ["Li1.325Mn0.675O2", 328.375, 14.914],
        ["Li1.325Mn0.675O1.95F0.05", 324.034, 13.947],
        ["Li1.325Mn0.675O1.9F0.1", 317.198, 14.652],
        ["Li1.3Mn0.7O1.975F0.025", 322.365, 11.458],
    ],
    # logei and thompson re-recorded when issue 17 made the pending batches before them count
    # (fantasised by the kriging believer and kept min_distance away), not only excluded
    "logei": [
        ["Li1.275Mn0.725O2", 320.087, 11.318],
        ["Li1.3Mn0.7O1.925F0.075", 315.863, 12.13],
        ["Li1.275Mn0.725O1.95F0.05", 313.966, 9.451],
        ["Li1.25Mn0.75O1.975F0.025", 311.653, 7.976],
    ],
    "thompson": [
        ["Li1.225Mn0.775O2", 309.153, 9.942],
        ["Li1.275Mn0.725O1.9F0.1", 304.399, 10.797],
        ["Li1.2Mn0.8O2", 302.6, 9.083],
        ["Li1.3Mn0.7O1.875F0.125", 304.818, 12.431],
    ],
}


def test_suggest_gives_the_recorded_batches(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from drxlab.cli.main import cli

    up = require_shared(UPSTREAM)
    db = str(tmp_path / "lab.sqlite")
    runner = CliRunner()
    for args in (
        ["import", str(up / "LMTO_example.csv")],
        ["model", "import-drxnet", str(up / "pretrained")],
    ):
        res = runner.invoke(cli, ["--db", db, *args])
        assert res.exit_code == 0, res.output
    for kind, rows in RECORDED.items():
        res = runner.invoke(
            cli,
            [
                "--db",
                db,
                "suggest",
                "--campaign",
                str(CAMPAIGN),
                "-n",
                "4",
                "--acq",
                kind,
                "--seed",
                "7",
                "--calibration",
                "none",  # recorded on the raw ensemble
                *(["--kappa", "2"] if kind == "ucb" else []),  # recorded with κ = 2, the default then
                "--json",
            ],
        )
        assert res.exit_code == 0, res.output
        got = json.loads(res.stdout)["rows"]
        assert [r["formula"] for r in got] == [r[0] for r in rows], kind
        assert [r["predicted"] for r in got] == pytest.approx([r[1] for r in rows], abs=2e-3), kind
        assert [r["sigma"] for r in got] == pytest.approx([r[2] for r in rows], abs=2e-3), kind
