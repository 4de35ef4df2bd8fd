"""The feasibility classifier: calibration, what it learns from the virtual lab's rules, weighting."""

from __future__ import annotations

import numpy as np
import pytest

from drxlab.acquisition.feasibility import FeasibilityModel, features, state_matrix, weight_scores
from drxlab.exceptions import CampaignError
from drxlab.lab.synthesis import SynthesisRules

ELEMENTS = ["Li", "Mn", "Ti", "Nb", "O", "F"]


def test_probabilities_are_calibrated_on_a_logistic_truth() -> None:
    rng = np.random.default_rng(0)
    F = rng.normal(size=(3000, 3))
    truth = 1 / (1 + np.exp(-(0.5 + 1.5 * F[:, 0] - F[:, 1])))
    ok = rng.random(3000) < truth
    m = FeasibilityModel.fit(F[:2000], ok[:2000], names=("a", "b", "c"))
    p = m.predict(F[2000:])
    bins = np.digitize(p, [0.2, 0.4, 0.6, 0.8])
    for b in range(5):  # observed success rate per predicted-probability bin
        sel = bins == b
        assert abs(ok[2000:][sel].mean() - p[sel].mean()) < 0.08
    assert abs(m.weights[1] / m.scale[0] - 1.5) < 0.3  # recovers the true slope


def test_uncertain_far_from_data_moderates_towards_one_half() -> None:
    rng = np.random.default_rng(1)
    F = rng.normal(size=(12, 2))
    ok = F[:, 0] < 0
    few = FeasibilityModel.fit(F, ok, names=("a", "b"))
    many_F = rng.normal(size=(1200, 2))
    many = FeasibilityModel.fit(many_F, many_F[:, 0] < 0, names=("a", "b"))
    x = np.array([[-1.0, 0.0]])
    assert 0.5 < few.predict(x)[0] < many.predict(x)[0]


def test_learns_the_virtual_lab_boundary() -> None:
    rng = np.random.default_rng(2)
    rules = SynthesisRules(random_rate=0.0, li_loss_rate=0.0)
    rows = []
    while len(rows) < 400:  # random charge-balanced Li-Mn(3+)-Ti-Nb-O-F compositions
        li, nb, f = (
            rng.choice([1.1, 1.15, 1.2, 1.25, 1.3]),
            rng.choice([0, 0.1, 0.2]),
            rng.choice([0, 0.1, 0.2, 0.3]),
        )
        ti = rng.choice([0.2, 0.3, 0.4])
        mn = round(2 - li - nb - ti, 2)
        if mn > 0:
            rows.append({"Li": li, "Mn": mn, "Ti": ti, "Nb": nb, "O": 2 - f, "F": f})
    A = np.array([[r.get(el, 0.0) for el in ELEMENTS] for r in rows])
    ok = np.array([rules.feasible(r) for r in rows])
    S = np.tile([1.0, 3.0, 4.0, 5.0, -2.0, -1.0], (len(rows), 1))
    F, names = features(ELEMENTS, A, S)
    m = FeasibilityModel.fit(F[:250], ok[:250], names=names)
    p = m.predict(F[250:])
    accuracy = ((p > 0.5) == ok[250:]).mean()
    assert 0.15 < 1 - ok.mean() < 0.85 and accuracy > 0.85
    assert m.describe().startswith(f"logistic on {ok[:250].sum()} successful")


def test_features_mean_state_mn3_and_high_valent() -> None:
    A = np.array([[1.2, 0.4, 0.2, 0.2, 1.8, 0.2]])
    species = ("Mn3+", "Ti4+", "Nb5+")
    S = state_matrix(ELEMENTS, species, np.array([[0.4, 0.2, 0.2]]))
    F, names = features(ELEMENTS, A, S)
    row = dict(zip(names, F[0]))
    assert row["mean_state"] == pytest.approx((2 * 1.8 + 0.2 - 1.2) / 0.8)
    assert row["Mn3+"] == pytest.approx(0.4) and row["high_valent"] == pytest.approx(0.2)
    assert row["Li_excess*F"] == pytest.approx(0.2 * 0.2)


def test_fit_needs_both_outcomes_and_matching_shapes() -> None:
    F = np.zeros((4, 2))
    with pytest.raises(CampaignError, match="both successful and failed.*got 4 and 0"):
        FeasibilityModel.fit(F, np.ones(4, bool), names=("a", "b"))
    with pytest.raises(CampaignError, match="k = 3 names"):
        FeasibilityModel.fit(F, np.array([1, 0, 1, 0], bool), names=("a", "b", "c"))
    with pytest.raises(CampaignError, match="finite"):
        FeasibilityModel.fit(np.full((4, 2), np.nan), np.array([1, 0, 1, 0], bool), names=("a", "b"))


def test_weighting_by_kind() -> None:
    s = np.array([300.0, 250.0, 200.0, -np.inf])
    p = np.array([0.2, 1.0, 1.0, 1.0])
    w = weight_scores(s, p, "ucb")  # floor + p (score - floor): the unlikely best drops below
    assert list(np.argsort(-w)[:3]) == [1, 0, 2] and w[0] == pytest.approx(200 + 0.2 * 100)
    assert w[3] == -np.inf
    log_ei = np.array([-1.0, -2.0])
    assert weight_scores(log_ei, np.array([0.1, 1.0]), "logei") == pytest.approx([-1 + np.log(0.1), -2.0])
    assert weight_scores(s, p, "random") is s
    with pytest.raises(CampaignError, match="shape"):
        weight_scores(s, p[:2], "ucb")
