"""The posterior a round ranks by, per candidate: one function over a chunk of the space.

A round does not rank by the raw ensemble. Three transforms of the members' predictions, each
fitted once on the whole store before anything is ranked, change what the acquisition sees:

1. calibration (:class:`~drxlab.acquisition.calibration.Calibration`): the primary objective's
   members moved and stretched to the calibrated mean and σ (a variance scale, or a residual GP
   shipped as its training points and hyperparameters);
2. the kriging believer (:class:`~drxlab.acquisition.pending.Believer`): the calibrated members
   conditioned on the pending samples observed at their mean, and every candidate closer than
   ``min_distance`` to a pending one excluded;
3. P(feasible) (:class:`FeasibilityMap`): the logistic model's weights and the element and
   species order of its features, which :func:`~drxlab.acquisition.feasibility.weight_scores`
   then applies to the scores.

After fitting, each is a function of one candidate (its element amounts, species amounts and
member predictions) and of the fitted state alone. :meth:`PosteriorTransform.apply` applies all
three to a chunk; the local round and every Ray worker call it on the same chunks of the
candidate stream (the generator's blocks), so the two executors compute the same bits even where
a library routine (the GP posterior, a matrix product) could round differently for another chunk
size. The transform is a small picklable value: a few hundred floats, whatever the space's size.

Example:
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.random((6, 3)), 200 + rng.normal(size=(5, 6, 1))
    >>> out = PosteriorTransform().apply(X, Y, np.zeros((6, 0)))
    >>> out.rank is Y, out.p_feasible is None, bool(out.near_pending.any())
    (True, True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from drxlab.acquisition.calibration import Calibration, calibrated_members
from drxlab.acquisition.feasibility import FeasibilityModel, Moments, features, state_matrix
from drxlab.acquisition.pending import Believer

__all__ = ["Applied", "FeasibilityMap", "PosteriorTransform", "with_rest"]


def with_rest(X: np.ndarray) -> np.ndarray:
    """``n x d`` element amounts plus the all-zero "other elements" column the composition
    features carry (:func:`drxlab.workflow.screening.features`): ``n x (d + 1)``."""
    return np.hstack([X, np.zeros((len(X), 1))])


@dataclass(frozen=True, eq=False)
class FeasibilityMap:
    """A fitted feasibility model and the element / species order its features are built in.

    Attributes:
        model: the fitted logistic regression (``None`` before the fit: the columns alone, in
            which the space's feature moments are computed to standardise the fit on).
        elements: the screen's elements, then elements only the labelled syntheses hold.
        species: the screen's species labels (columns of the species amounts).
    """

    model: FeasibilityModel | None
    elements: tuple[str, ...]
    species: tuple[str, ...]

    def features(self, X: np.ndarray, species_amounts: np.ndarray) -> np.ndarray:
        """Features ``n x k`` of candidates with element amounts ``X`` (``n x d``, the screen's
        elements) and species amounts ``n x k`` (per f.u.)."""
        elements = list(self.elements)
        Xc = np.hstack([X, np.zeros((len(X), len(elements) - X.shape[1]))])
        F, _ = features(elements, Xc, state_matrix(elements, self.species, species_amounts))
        return F

    def moments(self, X: np.ndarray, species_amounts: np.ndarray) -> Moments:
        return Moments.of(self.features(X, species_amounts))

    def predict(self, X: np.ndarray, species_amounts: np.ndarray) -> np.ndarray:
        """P(feasible) ``(n,)`` of candidates (as :meth:`features`)."""
        return self.model.predict(self.features(X, species_amounts))


@dataclass(frozen=True, eq=False)
class Applied:
    """The transformed posterior of a chunk of candidates (or of several, concatenated).

    Attributes:
        rank: ``s x n x m`` member predictions the acquisition scores (calibrated, pending
            samples fantasised).
        posterior: ``s x n x m`` calibrated member predictions (what a suggestion records).
        p_feasible: ``(n,)`` P(feasible), or ``None`` when feasibility is not used.
        near_pending: ``(n,)`` True within ``min_distance`` of a pending sample (not eligible).
    """

    rank: np.ndarray
    posterior: np.ndarray
    p_feasible: np.ndarray | None
    near_pending: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Applied]) -> Applied:
        """Chunks in order, joined along the candidates."""
        rank = np.concatenate([p.rank for p in parts], axis=1)
        same = all(p.posterior is p.rank for p in parts)  # nothing pending: one array, not two
        return cls(
            rank,
            rank if same else np.concatenate([p.posterior for p in parts], axis=1),
            None if parts[0].p_feasible is None else np.concatenate([p.p_feasible for p in parts]),
            np.concatenate([p.near_pending for p in parts]),
        )

    def take(self, rows: np.ndarray) -> Applied:
        """The rows ``rows`` of each array."""
        return Applied(
            self.rank[:, rows],
            self.posterior[:, rows],
            None if self.p_feasible is None else self.p_feasible[rows],
            self.near_pending[rows],
        )


@dataclass(frozen=True, eq=False)
class PosteriorTransform:
    """The round's fitted transforms (see the module docstring); all off by default.

    Attributes:
        calibration: the primary objective's calibration; ``None`` or method ``none``: raw.
        believer: the pending samples' believer; ``None`` when nothing is pending.
        feasibility: the P(feasible) map; ``None`` when feasibility is not used.
        min_distance: pending exclusion radius (L1 per f.u.; the round's ``min_distance``).
    """

    calibration: Calibration | None = None
    believer: Believer | None = None
    feasibility: FeasibilityMap | None = None
    min_distance: float = 0.0

    def calibrated(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Member predictions ``s x n x m`` with objective 0 calibrated (``Y`` itself when off)."""
        cal = self.calibration
        if cal is None or cal.method == "none":
            return Y
        mean, std = Y[..., 0].mean(0), Y[..., 0].std(0)
        mean_cal, std_cal = cal.apply(with_rest(X), mean, std)
        out = np.array(Y, dtype=np.float64)
        out[..., 0] = calibrated_members(Y[..., 0], mean_cal, std_cal)
        return out

    @property
    def moves_members(self) -> bool:
        """Whether :meth:`apply` changes the member predictions (calibration or pending samples)."""
        cal = self.calibration
        return self.believer is not None or (cal is not None and cal.method != "none")

    def apply(self, X: np.ndarray, Y: np.ndarray, species_amounts: np.ndarray) -> Applied:
        """All transforms on one chunk: element amounts ``X`` (``n x d``), member predictions
        ``Y`` (``s x n x m``), species amounts ``n x k``. Arrays untouched by a transform are
        passed through, not copied."""
        posterior = self.calibrated(X, Y)
        rank, near = posterior, np.zeros(len(X), bool)
        if self.believer is not None:
            Xr = with_rest(X)
            rank = self.believer.apply(posterior, Xr)
            near = self.believer.too_close(Xr, self.min_distance)
        p = None if self.feasibility is None else self.feasibility.predict(X, species_amounts)
        return Applied(rank, posterior, p, near)
