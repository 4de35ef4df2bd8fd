"""Acceptance: the released ensemble reproduces the authors' own predictions and the paper."""

from __future__ import annotations

import json

import numpy as np
import pytest

from drxlab.model.ensemble import Ensemble

HE1 = "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2"
HE2 = "Li1.2Mn0.1Mg0.1Cr0.15V0.15Ti0.2Nb0.1O1.8F0.2"
PAPER = {(HE1, 20.0): 276.0, (HE1, 1000.0): 196.0, (HE2, 20.0): 266.0, (HE2, 1000.0): 171.0}


@pytest.fixture(scope="module")
def reference() -> dict:
    from tests.conftest import UPSTREAM, require_shared

    return json.loads((require_shared(UPSTREAM) / "reference_LMTO.json").read_text())


@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_lmto_curves_match_reference(released: Ensemble, reference: dict, strategy: str) -> None:
    released.strategy = strategy
    try:
        p = released.predict_curves(
            [reference["composition"]],
            reference["rate_mA_g"],
            reference["V_low"],
            reference["V_high"],
            reference["cycle"],
            n_points=len(reference["V"]),
        )
    finally:
        released.strategy = "auto"
    assert np.allclose(p.voltage[0], reference["V"], atol=1e-6)
    assert np.abs(p.q_mean[0] - reference["Q_avg"]).max() <= 0.05
    assert np.abs(p.q_std[0] - reference["Q_std"]).max() <= 0.05
    ref_dq = np.array(reference["dQdV_avg"])
    assert (np.abs(p.dqdv_mean[0] - ref_dq) <= 0.01 * np.abs(ref_dq)).all()
    for k, name in enumerate(sorted(reference["models"])):
        member = reference["models"][name]
        assert np.abs(p.q[k, 0] - member["Q"]).max() <= 0.05, name
        assert (np.abs(p.dqdv[k, 0] - member["dQdV"]) <= 0.01 * np.abs(member["dQdV"])).all(), name


def test_high_entropy_capacities_match_the_paper(released: Ensemble) -> None:
    comps, rates = [c for c, _ in PAPER], [r for _, r in PAPER]
    cap = released.predict_capacity(comps, rates, 1.5, 4.8, 1)
    for (comp, rate), mean, std, lo, hi in zip(PAPER, cap.mean(0), cap.std(0), cap.min(0), cap.max(0)):
        print(
            f"{comp} @ {rate:g} mA/g: {mean:.1f} ± {std:.1f} mAh/g (members {lo:.0f}–{hi:.0f}); "
            f"paper {PAPER[comp, rate]:.0f}"
        )
        assert abs(mean - PAPER[comp, rate]) <= 5.0


def test_capacity_points_and_curves_agree(released: Ensemble) -> None:
    comps = [HE1, HE2, "Li1.2Mn0.4Ti0.4O2"]
    curves = released.predict_curves(comps, [20, 100, 1000], 1.5, [4.8, 4.6, 4.4], [1, 5, 30])
    cap = released.predict_capacity(comps, [20, 100, 1000], 1.5, [4.8, 4.6, 4.4], [1, 5, 30])
    assert np.allclose(cap, curves.capacity, atol=1e-3)
    q, dq = released.predict_points(
        comps,
        rate=[20, 100, 1000],
        cycle=[1, 5, 30],
        v_low=1.5,
        v_high=[4.8, 4.6, 4.4],
        voltage=curves.voltage[:, 40],
        dqdv=True,
    )
    assert np.allclose(q, curves.q[..., 40], atol=1e-3)
    assert np.allclose(dq, curves.dqdv[..., 40], rtol=1e-3, atol=1e-3)


def test_derived_quantities(released: Ensemble) -> None:
    p = released.predict_curves(["Li1.2Mn0.4Ti0.4O2"], 20, 1.5, 4.8, 1)
    assert p.q.shape == p.dqdv.shape == (5, 1, 100)
    assert np.allclose(p.q_std, p.q.std(0))  # population form
    assert p.capacity.shape == (5, 1)
    assert 2.8 < float(p.average_voltage_mean[0]) < 3.4
    assert np.allclose(p.energy_mean, (p.average_voltage * p.capacity).mean(0))
    assert (p.dqdv_mean < 0).all()
