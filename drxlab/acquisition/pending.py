"""Pending samples in the acquisition: fantasised outcomes for compositions not yet measured.

A sample suggested or synthesised but not yet cycled will be measured; the next batch should
neither repeat it nor its neighbourhood as if nothing were known there. The ensemble cannot be
refitted for every suggestion, so the *kriging believer* is applied to the ensemble as a Gaussian
process whose covariance is the members' empirical covariance: every pending composition is
observed at its posterior mean (the believer's pseudo-observation), and each member is updated
by the ensemble-Kalman gain

    Y'_s(x) = Y_s(x) − K(x, P) (Y_s(P) − μ(P)),   K = (C_xP ∘ ρ_xP) (C_PP ∘ ρ_PP + ε I)⁻¹,

with ``C`` the population covariance across members and ``ρ = exp(−(d / length)²)`` a taper in
the L1 composition distance ``d`` (covariance localisation: five members cannot estimate the
correlation between distant compositions, so it is taken as zero there). The mean is unchanged
(the believer observes the mean); the spread σ shrinks to ≈ 0 at pending compositions and in
their neighbourhood, so σ-driven scores (UCB, explore, Thompson) rank by the fantasised
posterior and move away from what is already on the bench.
"""

from __future__ import annotations

import numpy as np

from drxlab.exceptions import CampaignError

LENGTH = 0.5  # L1 distance (per f.u.) over which a pending result informs its neighbours
JITTER = 1e-6  # relative to the mean member variance at the pending points


def believe(Y: np.ndarray, X: np.ndarray, pending: np.ndarray, length: float = LENGTH) -> np.ndarray:
    """Member predictions conditioned on the pending candidates observed at their mean.

    Args:
        Y: ``s x n x m`` member predictions.
        X: ``n x d`` candidate features (element amounts; L1 distance).
        pending: indices ``(b,)`` of pending candidates into ``X`` / ``Y``.
        length: localisation length (L1, per f.u.), > 0.

    Returns:
        ``s x n x m`` fantasised member predictions (same mean, smaller spread near pending).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.random((30, 3)); Y = rng.normal(size=(5, 30, 1))
        >>> Yb = believe(Y, X, np.array([0]))
        >>> bool(Yb[:, 0].std() < 0.01 * Y[:, 0].std()), np.allclose(Yb.mean(0), Y.mean(0))
        (True, True)
    """
    Y = np.asarray(Y, dtype=np.float64)
    pending = np.unique(np.asarray(pending, dtype=np.int64))
    if not length > 0:
        raise CampaignError(f"{length=} must be > 0 (L1 distance per f.u.)")
    if len(pending) == 0:
        return Y
    if pending.min() < 0 or pending.max() >= Y.shape[1]:
        raise CampaignError(
            f"pending indices must lie in [0, {Y.shape[1]}); got {pending.min()}…{pending.max()}"
        )
    s = Y.shape[0]
    # one O(n d) pass per pending point: memory stays O(n b), not O(n b d)
    D = np.stack([np.abs(X - X[i]).sum(axis=1) for i in pending], axis=1)  # n x b
    rho_xp = np.exp(-((D / length) ** 2))
    rho_pp = rho_xp[pending]
    out = np.empty_like(Y)
    for j in range(Y.shape[2]):
        mu = Y[..., j].mean(0)
        A = Y[..., j] - mu  # s x n anomalies
        Ap = A[:, pending]  # s x b
        C_pp = (Ap.T @ Ap / s) * rho_pp
        C_pp += np.eye(len(pending)) * JITTER * max(float(np.diag(C_pp).mean()), 1e-12)
        C_xp = (A.T @ Ap / s) * rho_xp  # n x b
        K = np.linalg.solve(C_pp, C_xp.T).T  # n x b (C_pp is symmetric)
        out[..., j] = mu + A - Ap @ K.T
    return out


def distance_to(X: np.ndarray, rows: np.ndarray, others: np.ndarray) -> float:
    """Smallest L1 distance between ``X[rows]`` and ``X[others]`` (``inf`` if either is empty)."""
    if len(rows) == 0 or len(others) == 0:
        return float("inf")
    return float(min(np.abs(X[others] - X[i]).sum(axis=1).min() for i in rows))
