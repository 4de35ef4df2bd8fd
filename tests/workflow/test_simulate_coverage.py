"""Prospective coverage in simulation results: rounds after the 3rd, per posterior, median over seeds."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from drxlab.lab.oracle import synthetic_oracle
from drxlab.report.data import collect
from drxlab.report.simulation import write_outputs
from drxlab.store.db import open_store
from drxlab.workflow.simulate import Run, SimulationResult, run_simulation
from tests.factories import campaign_toml

TINY = campaign_toml("simtiny", {"Mn3+": 0.3, "Cr3+": 0.2, "Ti4+": 0.3, "Nb5+": 0.2}, f=(0.0, 0.1), batch=2)


def _run(seed: int, misses: int) -> Run:
    run = Run("ucb", seed, f"c-ucb-s{seed}")
    run.true_best = [1.0]
    run.model_mae = [1.0]
    for rnd in range(1, 6):
        for k in range(4):
            # raw σ 1 misses every measurement (error 10); calibrated σ 8: 1σ misses, 2σ covers
            err = 10.0 if k >= misses else 30.0
            run.predictions.append(
                {"round": rnd, "measured": 100.0 + err, "raw": [100.0, 1.0], "calibrated": [100.0, 8.0]}
            )
    return run


def test_coverage_counts_rounds_after_the_third_only() -> None:
    run = _run(0, misses=1)
    run.predictions[0]["measured"] = 100.0  # round 1: would be covered by raw; must not count
    assert run.coverage(1, "raw") == 0.0
    assert run.coverage(1, "calibrated") == 0.0
    assert run.coverage(2, "calibrated") == pytest.approx(6 / 8)  # one in four misses by 30
    assert run.coverage(2, "gp") is None  # not recorded: no figure rather than a made-up one


def test_summary_reports_median_coverage_per_posterior() -> None:
    res = SimulationResult("c", "synthetic", 100, 1.0, 0.9, 5, 4, [_run(0, 0), _run(1, 1), _run(2, 2)])
    s = res.summary()["ucb"].as_dict()  # as simulate --json prints it
    assert s["coverage_1sigma"]["raw"] == 0.0
    assert s["coverage_2sigma"]["calibrated"] == pytest.approx(6 / 8)  # median of 1, 6/8, 4/8
    assert s["coverage_2sigma"]["scale"] is None
    assert res.summary()["ucb"].coverage[2]["calibrated"] == s["coverage_2sigma"]["calibrated"]


@pytest.mark.slow  # trains and fine-tunes 2 tiny ensembles (~30 s on 2 free cores)
def test_per_round_coverage_recomputed_from_the_store(tmp_path: Path) -> None:
    spec = tmp_path / "simtiny.toml"
    spec.write_text(TINY)
    store = open_store(tmp_path / "sim.sqlite")
    res = run_simulation(
        store,
        spec,
        synthetic_oracle(),
        strategies=["ucb"],
        seeds=[0, 1],
        rounds=3,
        batch=2,
        n_start=8,
        start_epochs=1,
        finetune_epochs=1,
    )
    # the store's suggestions (raw mean/σ_Q and the calibrated pair each was ranked with) and
    # measurements, read by the campaign report, give the same per-round medians
    expect: dict[tuple[int, str, int], list[float]] = {}
    with store.reader() as s:
        for run in res.runs:
            rows = collect(s, run.campaign).compared
            assert len(rows) == 6
            for rnd in (1, 2, 3):
                mine = [r for r in rows if r.round == rnd]
                assert len(mine) == 2
                for k in (1, 2):
                    expect.setdefault((k, "raw", rnd), []).append(
                        np.mean([abs(r.error) <= k * r.sigma for r in mine])
                    )
                    expect.setdefault((k, "calibrated", rnd), []).append(
                        np.mean([abs(r.z_calibrated) <= k for r in mine])
                    )
    store.engine.dispose()
    summ = res.summary()["ucb"]
    assert summ.measured_by_round == (4, 4, 4)
    js = summ.as_dict()["coverage_per_round"]
    assert [r["round"] for r in js] == [1, 2, 3]
    for (k, post, rnd), per_seed in expect.items():
        assert summ.coverage_by_round[rnd - 1][k][post] == pytest.approx(np.median(per_seed))
        assert js[rnd - 1][f"coverage_{k}sigma"][post] == pytest.approx(np.median(per_seed))
    assert "coverage_1sigma" in summ.as_dict() and "coverage_2sigma" in summ.as_dict()  # kept as they were
    files = write_outputs(res, tmp_path / "out")
    with (tmp_path / "out" / "coverage_per_round.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [(r["strategy"], r["round"]) for r in table] == [("ucb", "1"), ("ucb", "2"), ("ucb", "3")]
    for r in table:
        rnd = int(r["round"])
        for k in (1, 2):
            for post in ("raw", "calibrated"):
                assert float(r[f"{post} within {k}σ (%)"]) == pytest.approx(
                    100 * np.median(expect[(k, post, rnd)]), abs=0.05
                )
    assert tmp_path / "out" / "coverage_per_round.png" in files
