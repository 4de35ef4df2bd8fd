"""Figures and tables a chemist can read alone: titles with conditions, labelled bands, integer
synthesis counts, steps for best-so-far, readable lineage metrics, units in headers."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from drxlab.candidates.spec import Objective
from drxlab.report.figures import BAND_LABEL, curve_figure, simulation_figure, spread_duplicates, wrap_formula
from drxlab.report.render import metrics_text
from drxlab.vocabulary import AcquisitionKind
from drxlab.workflow.simulate import Run, SimulationResult
from tests.report.conftest import tiny_ensemble

HE = "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2"


def test_predict_plot_names_composition_conditions_and_band() -> None:
    pred = tiny_ensemble(1).predict_curves([HE], 20.0, 1.5, 4.8, 1)
    fig = curve_figure(
        pred, [HE], conditions="20 mA/g, 1.5–4.8 V, cycle 1; DRXNet model version 1 (released)"
    )
    ax = fig.axes[0]
    title = ax.get_title()
    for part in (HE, "20 mA/g", "1.5–4.8 V", "cycle 1", "model version 1"):
        assert part in title
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"{HE}: ensemble mean", BAND_LABEL]
    assert "uncalibrated" in BAND_LABEL and "σ_Q" in BAND_LABEL
    assert ax.get_xlabel() == "Discharge capacity Q (mAh/g)" and ax.get_ylabel() == "Voltage (V)"
    plt.close(fig)


def test_long_formulas_break_between_elements() -> None:
    text = wrap_formula("Li1.1Cr0.05Fe0.25Mn0.25Nb0.1Ni0.1Ti0.15O1.85F0.15", 30)
    assert all(len(line) <= 30 for line in text.splitlines()) and text.replace("\n", "") == (
        "Li1.1Cr0.05Fe0.25Mn0.25Nb0.1Ni0.1Ti0.15O1.85F0.15"
    )
    assert wrap_formula("Li1.2Mn0.4Ti0.4O2", 30) == "Li1.2Mn0.4Ti0.4O2"


def _result(top: float) -> SimulationResult:
    rng = np.random.default_rng(0)
    runs = [
        Run(s, k, "he-drx", true_best=list(np.maximum.accumulate(rng.normal(230, 15, 10))))
        for s in ("ucb", "random")
        for k in range(2)
    ]
    return SimulationResult("he-drx", "synthetic", 54297, 300.0, top, 5, 2, runs, 543)


def test_simulation_plot_steps_on_integer_syntheses_with_a_title() -> None:
    fig = simulation_figure(_result(top=250.0))
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    curves = [ln for ln in ax.get_lines() if ln.get_label().endswith("(median)")]
    assert len(curves) == 2 and all(ln.get_drawstyle() == "steps-post" for ln in curves)
    assert "he-drx" in ax.get_title() and "5 rounds × 2 syntheses" in ax.get_title()
    assert any("true top 1 %" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


def test_a_threshold_off_the_plot_gets_no_legend_entry() -> None:
    fig = simulation_figure(_result(top=400.0))
    ax = fig.axes[0]
    assert not any("top 1 %" in t.get_text() for t in ax.get_legend().get_texts())
    assert ax.get_ylim()[1] < 400.0
    assert any("400 mAh/g (above this range)" in t.get_text() for t in ax.texts)
    plt.close(fig)


def test_lineage_metrics_read_as_values() -> None:
    trained = {
        "train": {"n": 40, "mae": 12.3456789, "sigma": 4.56789},
        "validation": {"n": 0, "mae": math.nan, "sigma": math.nan},
    }
    text = metrics_text(trained)
    assert text == (
        "training data: MAE 12.3 mAh/g, mean σ_Q 4.6 mAh/g (40 profiles); held-out compositions: no profiles"
    )
    assert metrics_text({"val_mae_mAh_g": 21.5}) == "validation MAE 21.5 mAh/g"
    assert metrics_text({"loss": math.nan, "ratio": 0.123456}) == "loss —; ratio 0.123"
    assert metrics_text({}) is None


def test_samples_on_one_grid_point_stay_inside_their_cell() -> None:
    pts = np.array([[1.1, 0.05]] * 12 + [[1.2, 0.0]])
    out = spread_duplicates(pts, 0.4 * 0.05)
    assert len(np.unique(np.round(out, 9), axis=0)) == 13
    assert np.abs(out - pts).max() <= 0.02 + 1e-12 and (out[-1] == pts[-1]).all()


def test_table_headers_give_units_and_meaning() -> None:
    c30 = Objective("capacity_30", "cycle_capacity", 20.0, (1.5, 4.8), cycle=30)
    assert c30.header == "capacity_30: cycle 30 (mAh/g)"
    ret = Objective("rate_retention", "retention", 200.0, (1.5, 4.8), base_rate=20.0)
    assert ret.header == "rate_retention: Q(200) / Q(20 mA/g) (ratio)"
    assert AcquisitionKind.UCB.value_label("mAh/g") == "UCB = mean + κσ (mAh/g)"
    assert all(k.value_label("mAh/g") for k in AcquisitionKind)


@pytest.mark.parametrize(("campaign", "expected"), [("li-mn-o-f.toml", {"0.5", "0.475", "0.45", "0.425"})])
def test_candidate_f_column_shows_the_grid_value(run, campaign: str, expected: set[str]) -> None:
    from pathlib import Path

    spec = Path(__file__).resolve().parents[2] / "campaigns" / campaign
    lines = run("candidates", "--campaign", str(spec), "--head", "4").output.splitlines()
    assert "F (per f.u.)" in lines[0]
    col = lines[0].index("F (per f.u.)")
    assert {ln[col : col + 12].strip() for ln in lines[2:]} == expected


def test_composition_map_marks_failures_by_reason() -> None:
    import warnings
    from types import SimpleNamespace

    from drxlab.report.data import SpaceMap
    from drxlab.report.figures import space_figure

    failed = np.array([[1.2, 0.3], [1.1, 0.0], [1.3, 0.1], [1.2, 0.2]])
    sp = SpaceMap(
        ("Li", "Mn", "O", "F"),
        ("Li", "F"),
        np.array([[1.2, 0.0], [1.25, 0.05]]),
        np.array([3, 1]),
        {"tested": np.array([[1.2, 0.1]]), "failed": failed, "suggested": np.zeros((0, 2))},
        100,
        0.05,
        ("f_not_incorporated", "impurity_phase", "li_loss", "cell"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = space_figure(SimpleNamespace(space=sp, campaign="demo"))
    assert img[:8] == b"\x89PNG\r\n\x1a\n"
