"""Precomputed DRXNet ensemble predictions presented to BoTorch as an ``EnsembleModel``.

The candidate space is discrete and the fast screening path has already evaluated every
ensemble member on every candidate, so the model does not run a network: it looks rows up.

Input encoding (the choice documented here): BoTorch inputs carry the **candidate index** as
their single feature, ``X[..., 0] = i`` for candidate ``i`` (a ``batch x q x 1`` tensor). An
index is exact, costs nothing to look up and cannot collide, whereas hashing float composition
rows would be fragile under round-off. :meth:`PrecomputedEnsembleModel.candidate_inputs` returns
the ``n x 1`` tensor of all indices, usable as ``choices`` for
:func:`botorch.optim.optimize_acqf_discrete`.

Spread convention: BoTorch's :class:`~botorch.posteriors.ensemble.EnsemblePosterior` reports the
*unbiased* (reliability-weighted, ddof=1-like) variance. drxlab's σ_Q is the **population**
standard deviation over members (``np.std(Y, axis=0)``, ddof=0), so the posterior returned here,
:class:`PopulationEnsemblePosterior`, reports the population variance. Consequently the analytic
``UpperConfidenceBound(model, beta=kappa**2)`` is exactly ``mean + kappa * σ_Q`` and
``PosteriorStandardDeviation`` is exactly σ_Q.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.models.ensemble import EnsembleModel
from botorch.posteriors.ensemble import EnsemblePosterior
from torch import Tensor

from drxlab.exceptions import CampaignError

__all__ = ["PopulationEnsemblePosterior", "PrecomputedEnsembleModel"]


class PopulationEnsemblePosterior(EnsemblePosterior):
    """An :class:`EnsemblePosterior` whose ``variance`` is the population (ddof=0) variance."""

    @property
    def variance(self) -> Tensor:
        r"""The weighted population variance over members, a ``(b) x q x m`` tensor.

        ``Σ_i w_i (y_i - μ)²`` with normalised weights; for uniform weights this equals
        ``values.var(dim=-3, unbiased=False)``.
        """
        weights = self.weights[..., None, None]
        squared_deviations = (self.values - self.mean.unsqueeze(-3)) ** 2
        return (weights * squared_deviations).sum(dim=-3)


class PrecomputedEnsembleModel(EnsembleModel):
    r"""An ensemble model over a fixed candidate set whose member predictions are precomputed.

    Example:
        >>> Y = np.random.default_rng(0).normal(size=(5, 100, 1))  # s x n x m
        >>> model = PrecomputedEnsembleModel(Y)
        >>> post = model.posterior(model.candidate_inputs()[:3].unsqueeze(-2))  # 3 x 1 x 1
        >>> tuple(post.mean.shape)
        (3, 1, 1)
    """

    def __init__(self, predictions: np.ndarray | Tensor, *, weights: Tensor | None = None) -> None:
        """
        Args:
            predictions: Member predictions, an ``s x n x m`` array (s members, n candidates,
                m objectives, e.g. capacity in mAh/g for objective 0). Converted to float64.
            weights: Optional ``s`` member weights (uniform if None).
        """
        values = torch.as_tensor(np.asarray(predictions), dtype=torch.float64)
        if values.ndim != 3:
            raise CampaignError(f"predictions must be s x n x m; got shape {tuple(values.shape)}")
        super().__init__(weights=weights)
        self.register_buffer("values", values)
        self._num_outputs = values.shape[-1]

    @property
    def num_candidates(self) -> int:
        """The number ``n`` of candidates the model can be queried at."""
        return self.values.shape[1]

    def candidate_inputs(self) -> Tensor:
        """All candidate indices as BoTorch inputs, an ``n x 1`` float64 tensor."""
        return torch.arange(self.num_candidates, dtype=torch.float64).unsqueeze(-1)

    def forward(self, X: Tensor) -> Tensor:
        r"""Look up the member predictions at the candidate indices in ``X``.

        Args:
            X: A ``batch x q x 1`` tensor of candidate indices.

        Returns:
            A ``batch x s x q x m`` tensor of member predictions.
        """
        if X.shape[-1] != 1:
            raise CampaignError(f"inputs must carry one feature (the candidate index); got {X.shape[-1]}")
        idx = X[..., 0].round().long()
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.num_candidates):
            raise CampaignError(f"candidate index out of range [0, {self.num_candidates})")
        values = self.values[:, idx]  # s x batch x q x m
        return values.movedim(0, -3)

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        posterior_transform: PosteriorTransform | None = None,
        **kwargs: Any,
    ) -> EnsemblePosterior:
        r"""The ensemble posterior at ``X`` (``batch x q x 1``) with population variance."""
        base = super().posterior(X, output_indices=output_indices, **kwargs)
        posterior = PopulationEnsemblePosterior(values=base.values, weights=self.ensemble_weights)
        if posterior_transform is not None:
            return posterior_transform(posterior=posterior, X=X)
        return posterior
