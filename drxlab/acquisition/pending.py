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

from dataclasses import dataclass

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
    return Believer.fit(Y[:, pending], np.asarray(X)[pending], length).apply(Y, X)


@dataclass(frozen=True, eq=False)
class Believer:
    """The kriging believer fitted on the pending candidates alone, applied to any chunk of the space.

    The fantasised predictions of a candidate depend only on its own members' predictions and
    features and on this state, so a space cut into chunks anywhere (a Ray worker's blocks)
    gives the same values as one call over the whole space made with the same chunks.

    Attributes:
        X: ``b x d`` features of the pending candidates.
        A: ``s x b x m`` member anomalies (prediction − ensemble mean) there.
        C: ``m x b x b`` localised, jittered member covariance between them.
        length: localisation length (L1, per f.u.).
    """

    X: np.ndarray
    A: np.ndarray
    C: np.ndarray
    length: float = LENGTH

    @classmethod
    def fit(cls, Yp: np.ndarray, Xp: np.ndarray, length: float = LENGTH) -> Believer:
        """From the members' predictions ``s x b x m`` and features ``b x d`` of the pending candidates."""
        if not length > 0:
            raise CampaignError(f"{length=} must be > 0 (L1 distance per f.u.)")
        Yp = np.asarray(Yp, dtype=np.float64)
        Xp = np.asarray(Xp, dtype=np.float64)
        s, b = Yp.shape[0], Yp.shape[1]
        rho_pp = np.exp(-((_distances(Xp, Xp) / length) ** 2))
        A = Yp - Yp.mean(0)
        C = np.empty((Yp.shape[2], b, b))
        for j in range(Yp.shape[2]):
            C[j] = (A[..., j].T @ A[..., j] / s) * rho_pp
            C[j] += np.eye(b) * JITTER * max(float(np.diag(C[j]).mean()), 1e-12)
        return cls(Xp, A, C, length)

    def apply(self, Y: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Fantasised member predictions ``s x n x m`` of candidates ``X`` (``n x d``) from ``Y``."""
        Y = np.asarray(Y, dtype=np.float64)
        s = Y.shape[0]
        rho_xp = np.exp(-((_distances(np.asarray(X, dtype=np.float64), self.X) / self.length) ** 2))
        out = np.empty_like(Y)
        for j in range(Y.shape[2]):
            mu = Y[..., j].mean(0)
            A = Y[..., j] - mu  # s x n anomalies
            Ap = self.A[..., j]  # s x b
            C_xp = (A.T @ Ap / s) * rho_xp  # n x b
            K = np.linalg.solve(self.C[j], C_xp.T).T  # n x b (C is symmetric)
            out[..., j] = mu + A - Ap @ K.T
        return out

    def too_close(self, X: np.ndarray, min_distance: float) -> np.ndarray:
        """``(n,)`` True where a candidate lies closer than ``min_distance`` (L1) to a pending one."""
        near = np.zeros(len(X), bool)
        for x in self.X:
            near |= np.abs(X - x).sum(axis=1) < min_distance
        return near

    def distance(self, X: np.ndarray) -> float:
        """Smallest L1 distance from rows ``X`` to the pending candidates (``inf`` if either is empty)."""
        if len(X) == 0 or len(self.X) == 0:
            return float("inf")
        return float(min(np.abs(self.X - x).sum(axis=1).min() for x in X))


def _distances(X: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``n x b`` L1 distances; one O(n d) pass per pending point, so memory stays O(n b)."""
    return np.stack([np.abs(X - p).sum(axis=1) for p in P], axis=1)


def distance_to(X: np.ndarray, rows: np.ndarray, others: np.ndarray) -> float:
    """Smallest L1 distance between ``X[rows]`` and ``X[others]`` (``inf`` if either is empty)."""
    if len(rows) == 0 or len(others) == 0:
        return float("inf")
    return float(min(np.abs(X[others] - X[i]).sum(axis=1).min() for i in rows))
