"""Calibrators of the ensemble σ: coverage where the truth is known, never narrower, fallback, records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drxlab.acquisition.calibration import (
    MIN_POINTS,
    Calibration,
    CalibrationError,
    _sha,
    calibrated_members,
    fit,
)

D = 5


def _world(seed: int, n: int = 1500) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Compositions, a smooth true capacity, an overconfident ensemble (σ 3-6, errors ~40), noisy y."""
    rng = np.random.default_rng(seed)
    X = rng.dirichlet(np.ones(D), size=n) * 1.2
    truth = 200 + 60 * np.sin(3 * X[:, 0]) + 50 * X[:, 1] * X[:, 2] - 30 * X[:, 3]
    mean = np.full(n, 200.0) + rng.normal(0, 25, n)  # the ensemble is off by tens of mAh/g
    std = 3 + 3 * rng.random(n)
    y = truth + rng.normal(0, 3, n)
    return X, mean, std, y


def _coverage(cal: Calibration, X, mean, std, y, test) -> tuple[float, float]:
    m, s = cal.apply(X[test], mean[test], std[test])
    z = np.abs(y[test] - m) / s
    return float((z <= 1).mean()), float((z <= 2).mean())


@pytest.mark.parametrize("method", ["scale", "gp"])
def test_calibrated_coverage_near_nominal_where_raw_is_far_off(method: str) -> None:
    X, mean, std, y = _world(0)
    rng = np.random.default_rng(1)
    train = rng.choice(len(X), 30, replace=False)
    test = np.setdiff1d(np.arange(len(X)), train)
    raw1 = float((np.abs(y[test] - mean[test]) <= std[test]).mean())
    cal = fit(method, X[train], y[train] - mean[train], std[train], typical=200.0)
    cov1, cov2 = _coverage(cal, X, mean, std, y, test)
    assert raw1 < 0.25  # the ensemble alone is overconfident
    assert 0.45 <= cov1 <= 0.95 and 0.8 <= cov2 <= 1.0, (cov1, cov2)  # nominal: 0.68, 0.95
    assert not cal.fallback and cal.n == 30


def test_gp_corrects_the_mean_near_measurements_and_not_far() -> None:
    rng = np.random.default_rng(6)
    corner = np.array([0.8, 0.1, 0.1, 0.1, 0.1]) + rng.normal(0, 0.02, (6, D))
    elsewhere = rng.dirichlet(np.ones(D), size=14) * 1.2
    elsewhere = elsewhere[np.abs(elsewhere - corner[0]).sum(1) > 0.8]
    X = np.vstack([corner, elsewhere])
    r = np.r_[np.full(len(corner), -50.0), rng.normal(0, 3, len(elsewhere))]  # one corner is 50 too high
    cal = fit("gp", X, r, np.full(len(X), 4.0), typical=200.0)
    query = np.vstack([corner[:1] + 0.01, elsewhere[:1] + 0.01])
    m, s = cal.apply(query, np.array([200.0, 200.0]), np.array([4.0, 4.0]))
    assert m[0] < 170  # near the corner: most of the −50 applied
    assert abs(m[1] - 200) < 15  # far from it: barely moved (a local update)


@pytest.mark.parametrize("method", ["scale", "gp", "none"])
def test_sigma_never_narrower_than_the_ensemble(method: str) -> None:
    X, mean, std, y = _world(2, n=400)
    # residuals far smaller than σ_Q: an ML scale would be < 1, the floor keeps σ_Q
    cal = fit(method, X[:20], 0.1 * std[:20], std[:20], typical=200.0)
    _, s = cal.apply(X, mean, std)
    assert (s >= std).all()
    if method == "scale":
        assert cal.scale == 1.0


@pytest.mark.parametrize("method", ["scale", "gp"])
@pytest.mark.parametrize("n", [0, 1, MIN_POINTS - 1])
def test_fallback_with_few_measurements_is_conservative_and_says_so(method: str, n: int) -> None:
    X, mean, std, y = _world(3, n=50)
    cal = fit(method, X[:n], y[:n] - mean[:n], std[:n], typical=200.0)
    assert cal.fallback and f"only {n} measured" in cal.message
    _, s = cal.apply(X, mean, std)
    np.testing.assert_allclose(s, np.sqrt(std**2 + 30.0**2))


def test_record_roundtrip_reproduces_the_posterior() -> None:
    X, mean, std, y = _world(4, n=300)
    cal = fit("gp", X[:12], y[:12] - mean[:12], std[:12], typical=200.0)
    again = Calibration.from_record(cal.record(), cal.sha256)
    np.testing.assert_array_equal(np.stack(cal.apply(X, mean, std)), np.stack(again.apply(X, mean, std)))
    # a record stored before the forward-validation scale (no such keys) still reads and applies
    old = cal.record()
    del old["gp"]["forward_scale"], old["gp"]["forward_points"]
    np.testing.assert_array_equal(
        np.stack(cal.apply(X, mean, std)),
        np.stack(Calibration.from_record(old, _sha(old)).apply(X, mean, std)),
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda rec: rec.update(scale=rec["scale"] + 1),  # content changed, hash kept
        lambda rec: rec.pop("method"),
        lambda rec: rec.update(method="isotonic"),
    ],
)
def test_corrupt_record_is_refused(mutate) -> None:
    cal = fit("scale", np.zeros((6, 2)), np.arange(6.0) * 10, np.ones(6), typical=200.0)
    rec = cal.record()
    mutate(rec)
    with pytest.raises(CalibrationError, match="corrupt"):
        Calibration.from_record(rec, cal.sha256 if "method" in rec and rec["method"] == "scale" else None)


def test_missing_record_and_bad_method_are_clear() -> None:
    with pytest.raises(CalibrationError, match="missing"):
        Calibration.from_record(None)
    with pytest.raises(CalibrationError, match="unknown"):
        fit("isotonic", np.zeros((1, 2)), np.zeros(1), np.ones(1), typical=200.0)


def test_calibrated_members_have_the_calibrated_moments() -> None:
    rng = np.random.default_rng(5)
    Y = rng.normal(200, 4, size=(5, 40))
    Y[:, 3] = 180.0  # members agree exactly on one candidate
    m, s = Y.mean(0) - 10, np.full(40, 25.0)
    Z = calibrated_members(Y, m, s)
    np.testing.assert_allclose(Z.mean(0), m)
    np.testing.assert_allclose(Z.std(0), s)


def test_gp_on_unstructured_residuals_stays_finite() -> None:
    # pure noise residuals on random compositions (what the bench fits): no NaN, σ still ≥ σ_Q
    rng = np.random.default_rng(0)
    X = rng.dirichlet(np.ones(D), size=40) * 1.2
    cal = fit("gp", X, rng.normal(0, 30, 40), np.full(40, 3.0), typical=200.0)
    m, s = cal.apply(rng.dirichlet(np.ones(D), size=500) * 1.2, np.full(500, 200.0), np.full(500, 3.0))
    assert np.isfinite(m).all() and np.isfinite(s).all() and (s >= 3.0).all()


def _gp_draw(seed: int, n: int, *, lengthscale: float, outputscale: float, noise: float) -> tuple:
    """``n`` compositions in 5 rounds and residuals drawn from a GP prior with these hyperparameters."""
    from drxlab.acquisition.calibration import _gp

    rng = np.random.default_rng(seed)
    X = rng.dirichlet(np.ones(D), size=n) * 1.2
    k = _gp(X, np.zeros(n), lengthscale=lengthscale, outputscale=outputscale, noise=noise).covar_module
    K = k(torch_tensor(X)).to_dense().detach().numpy() + noise * np.eye(n)
    r = np.linalg.cholesky(K) @ rng.normal(size=n)
    return X, r, np.repeat(np.arange(1, 6), n // 5)


def torch_tensor(X: np.ndarray):
    import torch

    return torch.as_tensor(X, dtype=torch.float64)


def test_forward_validation_scales_a_gp_to_what_its_later_rounds_show() -> None:
    from drxlab.acquisition.calibration import _forward_scale

    X, r, rounds = _gp_draw(7, 60, lengthscale=0.4, outputscale=400.0, noise=9.0)
    state = {"lengthscale": 0.4, "outputscale": 400.0, "noise": 9.0, "X": X.tolist(), "r": r.tolist()}
    k, m = _forward_scale(state, rounds)
    assert m == 48 and 0.6 < k < 1.6  # the true hyperparameters: z² average about 1
    wide, _ = _forward_scale({**state, "outputscale": 3600.0, "noise": 81.0}, rounds)
    assert wide < 0.25  # a 9× too large variance is seen as such by the next rounds
    few, m = _forward_scale(state, np.r_[np.zeros(56), np.ones(4)])
    assert (few, m) == (1.0, 4)  # fewer than MIN_POINTS predictions: no scale


REPLAY = Path(__file__).with_name("calibration_rounds.json")


def _replayed_coverage(oracle: str) -> tuple[float, float]:
    """Pooled 1σ / 2σ coverage of the picks of rounds 4–6 of recorded UCB campaigns, each predicted
    by a GP fitted as ``suggest`` fits it on what the campaign had measured before that round.

    The data (``calibration_rounds.json``) come from two ``drxlab simulate`` runs (he-drx-1e4,
    UCB κ = 1, 6 rounds × 8, 5 seeds; the virtual lab and DRXNet member 0 as truth): per campaign
    the measured compositions (element amounts in units of 0.05), the round each was suggested
    in, its prospective residual (measured − the ensemble mean when suggested) and σ_Q then; per
    round the current (fine-tuned) ensemble's residuals the GP was fitted on and the picks.
    """
    z = []
    for camp in json.loads(REPLAY.read_text())[oracle]:
        X = np.array(camp["x"]) * 0.05
        r_then, s, rnd = (np.array(camp[k], dtype=float) for k in ("r", "s", "round"))
        for R, rec in camp["rounds"].items():
            rows, picks = np.array(rec["rows"]), np.array(rec["picks"])
            before = rnd < int(R)
            cal = fit(
                "gp",
                X[rows],
                np.array(rec["r"]),
                s[rows],
                typical=camp["typical"],
                prospective=(r_then[before], s[before]),
                rounds=rnd[rows],
            )
            m, sd = cal.apply(X[picks], np.zeros(len(picks)), s[picks])
            assert (sd >= s[picks]).all()
            z.extend(np.abs(r_then[picks] - m) / sd)
    z = np.array(z)
    return float((z <= 1).mean()), float((z <= 2).mean())


@pytest.mark.parametrize("oracle", ["virtual_lab", "drxnet_member_0"])
def test_replayed_campaigns_have_nominal_prospective_coverage(oracle: str) -> None:
    # the virtual lab's ensemble under-predicts everywhere by 30–55 mAh/g: without the forward scale
    # 84 % / 97 % fall within 1σ / 2σ (86 % / 98 % with σ_Q² added to the GP's variance, as before)
    cov1, cov2 = _replayed_coverage(oracle)
    assert 0.55 <= cov1 <= 0.80 and 0.85 <= cov2 <= 0.99, (cov1, cov2)  # issue 16's acceptance band
