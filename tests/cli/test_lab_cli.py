"""Virtual lab commands and simulation: oracles, bad input, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drxlab.workflow.simulate import random_median_draws
from tests.conftest import store_digest, without_store_line
from tests.factories import campaign_toml

pytestmark = pytest.mark.both_backends  # every test using `run` runs on SQLite and PostgreSQL

SMALL = campaign_toml(
    "simsmall",
    {"Mn2+": 0.2, "Mn3+": 0.3, "Cr3+": 0.2, "V3+": 0.2, "Ti4+": 0.3, "Nb5+": 0.2},
    f=(0.0, 0.2),
    batch=2,
)


def test_measure_writes_a_virtual_test(run) -> None:
    r = run("lab", "measure", "Li1.2Mn0.4Ti0.4O2", "--cycles", "1-3", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    caps = [out["capacity_mAh_g"][str(c)] for c in (1, 2, 3)]
    assert 230 < caps[0] < 290 and caps[2] <= caps[0] + 5
    (row,) = json.loads(run("tests", "--json").output)
    assert row["virtual"] and row["profiles"] == 3


def test_drxnet_oracle_without_noise_equals_the_model(run, upstream: Path) -> None:
    run("model", "import-drxnet", upstream / "pretrained")
    out = json.loads(
        run(
            "lab",
            "measure",
            "Li1.2Mn0.2Cr0.2Ti0.4O2",
            "--oracle",
            "drxnet:1",
            "--no-noise",
            "--cycles",
            "1,5",
            "--json",
        ).output
    )
    for cycle in (1, 5):
        pred = json.loads(run("predict", "Li1.2Mn0.2Cr0.2Ti0.4O2", "--cycle", cycle, "--json").output)[0]
        assert out["capacity_mAh_g"][str(cycle)] == pytest.approx(pred["capacity_mAh_g"], abs=0.5)
    member = json.loads(
        run(
            "lab",
            "measure",
            "Li1.2Mn0.2Cr0.2Ti0.4O2",
            "--oracle",
            "drxnet:1/0",
            "--no-noise",
            "--cycles",
            "1",
            "--json",
        ).output
    )
    pred = json.loads(run("predict", "Li1.2Mn0.2Cr0.2Ti0.4O2", "--json").output)[0]
    assert member["capacity_mAh_g"]["1"] == pytest.approx(pred["capacity_members_mAh_g"][0], abs=0.5)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["Li1.2Mn0.4Ti0.4O2", "--oracle", "magic"], "unknown oracle"),
        (["Li1.2Mn0.4Ti0.4O2", "--oracle", "drxnet:42"], "not found"),
        (["Li1.2Ti0.4Nb0.4O2"], "redox-active"),
        (["Li1.2Mn0.4Ti0.4O2", "--cycles", "0-3"], "cycle"),
        (["Li1.2Mn0.4Ti0.4O2", "--rate", "-5"], "rate"),
    ],
)
def test_measure_bad_input_writes_nothing(run, db_url: str, args: list[str], fragment: str) -> None:
    before = store_digest(db_url)
    r = run("lab", "measure", *args)
    assert r.exit_code != 0 and without_store_line(r.output).startswith("Error:") and fragment in r.output
    assert store_digest(db_url) == before


def test_seed_makes_a_lab_history(run) -> None:
    r = run("lab", "seed", "--n", "6", "--classes", "2TM,3TM", "--seed", "3")
    assert r.exit_code == 0, r.output
    mats = json.loads(run("materials", "--json").output)
    assert len(mats) == 6 and {m["class"] for m in mats} == {"2TM", "3TM"}
    tests = json.loads(run("tests", "--json").output)
    assert len({t["rate_mA_g"] for t in tests}) >= 3


@pytest.mark.slow
@pytest.mark.one_backend  # simulate records into its own OUT/simulation.sqlite, whatever --db is
def test_simulate_is_reproducible_and_records_campaigns(run, tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL)
    outs = []
    for k in range(2):
        r = run(
            "simulate",
            "--campaign",
            spec,
            "--rounds",
            "2",
            "--batch",
            "2",
            "--strategies",
            "ucb,random",
            "--seeds",
            "1",
            "--n-start",
            "8",
            "--start-epochs",
            "2",
            "--out",
            tmp_path / f"sim{k}",
            "--json",
        )
        assert r.exit_code == 0, r.output
        outs.append(json.loads(r.output))
    a, b = outs
    assert [r["made"] for r in a["runs"]] == [r["made"] for r in b["runs"]]
    assert {r["campaign"] for r in a["runs"]} == {"simsmall-ucb-s0", "simsmall-random-s0"}
    for r in a["runs"]:
        assert len(r["made"]) == 4 and np.all(np.diff(r["true_best"]) >= 0)
        assert r["regret"] == pytest.approx(a["true_max"] - r["true_best"][-1])
    assert 1 <= a["top_count"] <= a["candidates"]
    assert a["random_expected_syntheses_to_top1pct_median"] == random_median_draws(
        a["candidates"], a["top_count"]
    )
    for v in a["summary"].values():
        med = v["syntheses_to_top1pct_median"]
        want = a["random_expected_syntheses_to_top1pct_median"] / med if np.isfinite(med) else None
        assert v["random_expected_over_median"] == want
    assert (tmp_path / "sim0" / "best_vs_syntheses.png").stat().st_size > 5000
    # failed syntheses (the virtual lab's synthesis rules are on) per run and strategy, as stored
    import sqlite3

    con = sqlite3.connect(tmp_path / "sim0" / "simulation.sqlite")
    for r in a["runs"]:
        assert r["failed_syntheses"] == sum(n for k, n in r["failures"].items() if k != "cell")
        (stored,) = con.execute(
            "SELECT COUNT(*) FROM sample JOIN campaign ON campaign.id = sample.campaign_id "
            "WHERE campaign.name = ? AND sample.status = 'failed' AND sample.failure_reason != 'cell'",
            (r["campaign"],),
        ).fetchone()
        assert stored == r["failed_syntheses"]
    con.close()
    for k, v in a["summary"].items():
        assert v["failed_syntheses"] == [r["failed_syntheses"] for r in a["runs"] if r["strategy"] == k]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--strategies", "ucb,bogus"], "bogus"),
        (["--rounds", "400", "--batch", "40"], "exceed"),
        (["--oracle", "drxnet:3"], "no store at"),
    ],
)
def test_simulate_bad_input(run, tmp_path: Path, args: list[str], fragment: str) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL)
    r = run(
        "simulate",
        "--campaign",
        spec,
        "--seeds",
        "1",
        "--out",
        tmp_path / "sim",
        *args,
        db=tmp_path / "none" / "x.sqlite",
    )
    assert r.exit_code != 0 and fragment in r.output
