"""`drxlab train` and `drxlab evaluate` (the paper's composition-split protocol) on virtual data."""

from __future__ import annotations

import json

import pytest

from tests.conftest import store_digest

pytestmark = pytest.mark.both_backends  # every test using `run` runs on SQLite and PostgreSQL


@pytest.mark.slow
def test_train_registers_a_version_and_evaluate_reports_per_class(run, db_url) -> None:
    assert run("lab", "seed", "--n", "8", "--classes", "2TM,3TM", "--seed", "2").exit_code == 0
    r = run("train", "--members", "2", "--epochs", "2", "--size", "small", "--seed", "1", "--include-virtual")
    assert r.exit_code == 0, r.output
    assert "validation" in r.output
    (v,) = json.loads(run("model", "list", "--json").output)
    assert v["source"] == "trained" and v["members"] == 2 and v["metrics"]["train"]["n"] > 0
    # the same data and seed give the same weights: the content-addressed registry holds one version
    assert (
        run(
            "train", "--members", "2", "--epochs", "2", "--size", "small", "--seed", "1", "--include-virtual"
        ).exit_code
        == 0
    )
    assert len(json.loads(run("model", "list", "--json").output)) == 1
    assert (
        run(
            "train", "--members", "2", "--epochs", "2", "--size", "small", "--seed", "2", "--include-virtual"
        ).exit_code
        == 0
    )
    assert len(json.loads(run("model", "list", "--json").output)) == 2
    before = store_digest(db_url)
    r = run(
        "evaluate",
        "--train-class",
        "2TM",
        "--test-class",
        "3TM",
        "--members",
        "2",
        "--epochs",
        "2",
        "--size",
        "small",
        "--include-virtual",
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out["classes"]) == {"3TM"}
    c = out["classes"]["3TM"]
    assert (
        c["capacity_mae_mAh_g"] > 0 and c["capacity_mad_baseline_mAh_g"] > 0 and c["avg_voltage_mae_V"] >= 0
    )
    assert "1" in out["cycles"] and out["cycles"]["1"]["profiles"] > 0
    assert store_digest(db_url) == before  # evaluation writes nothing


def test_train_bad_input(run, db_url) -> None:
    before = store_digest(db_url)
    r = run("train", "--epochs", "2")
    assert r.exit_code != 0 and "no profiles to train on" in r.output
    r = run("train", "--members", "0")
    assert r.exit_code != 0 and "members" in r.output
    assert store_digest(db_url) == before
