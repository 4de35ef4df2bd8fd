"""Prospective coverage in simulation results: rounds after the 3rd, per posterior, median over seeds."""

from __future__ import annotations

import pytest

from drxlab.workflow.simulate import Run, SimulationResult


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
