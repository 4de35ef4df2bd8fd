"""The kriging believer on an ensemble: same mean, spread gone at and near pending candidates."""

from __future__ import annotations

import numpy as np
import pytest

from drxlab.acquisition.pending import believe, distance_to
from drxlab.exceptions import CampaignError


def _space(n: int = 400, s: int = 5):
    rng = np.random.default_rng(0)
    X = rng.random((n, 3))
    smooth = np.stack([np.sin(3 * X @ rng.normal(size=3)) for _ in range(s)])  # members vary smoothly
    return X, (100 + 20 * smooth)[..., None]


def test_mean_kept_spread_removed_at_pending_and_shrunk_nearby_only() -> None:
    X, Y = _space()
    pend = np.array([3, 50])
    Yb = believe(Y, X, pend, length=0.3)
    assert np.allclose(Yb.mean(0), Y.mean(0))
    sd, sd_b = Y[..., 0].std(0), Yb[..., 0].std(0)
    assert (sd_b[pend] < 1e-2 * sd[pend]).all()
    d = np.abs(X - X[3]).sum(axis=1)
    near, far = (d > 0) & (d < 0.3), np.abs(X[:, None] - X[pend]).sum(-1).min(1) > 1.5
    assert near.sum() >= 3 and (sd_b[near] < sd[near]).all() and (sd_b[near] / sd[near]).mean() < 0.85
    assert np.allclose(sd_b[far], sd[far], rtol=1e-3)


def test_no_pending_is_identity_and_bad_input_raises() -> None:
    X, Y = _space(20)
    assert believe(Y, X, np.array([], dtype=int)) is not None
    assert np.array_equal(believe(Y, X, np.array([], dtype=int)), Y)
    with pytest.raises(CampaignError, match="pending indices"):
        believe(Y, X, np.array([20]))
    with pytest.raises(CampaignError, match="length"):
        believe(Y, X, np.array([1]), length=0.0)
    assert distance_to(X, np.array([0]), np.array([], dtype=int)) == np.inf
    assert distance_to(X, np.array([0]), np.array([1])) == pytest.approx(np.abs(X[0] - X[1]).sum())
