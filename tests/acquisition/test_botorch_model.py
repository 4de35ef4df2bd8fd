"""PrecomputedEnsembleModel: lookups, population spread, BoTorch acquisition functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.acquisition.analytic import PosteriorStandardDeviation, UpperConfidenceBound
from botorch.acquisition.logei import qLogExpectedImprovement
from botorch.optim.optimize import optimize_acqf_discrete
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.sampling.index_sampler import IndexSampler

from drxlab.acquisition.botorch_model import PopulationEnsemblePosterior, PrecomputedEnsembleModel
from drxlab.exceptions import CampaignError


@pytest.fixture
def Y() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(5, 30, 2))


def test_forward_returns_batch_s_q_m(Y: np.ndarray) -> None:
    model = PrecomputedEnsembleModel(Y)
    X = torch.tensor([[[3.0], [7.0]], [[0.0], [29.0]]])  # batch=2 x q=2 x d=1
    out = model(X)
    assert out.shape == (2, 5, 2, 2)
    np.testing.assert_array_equal(out[0, :, 1].numpy(), Y[:, 7])
    np.testing.assert_array_equal(out[1, :, 0].numpy(), Y[:, 0])


def test_posterior_is_ensemble_with_population_variance(Y: np.ndarray) -> None:
    model = PrecomputedEnsembleModel(Y)
    post = model.posterior(model.candidate_inputs().unsqueeze(-2))
    assert isinstance(post, EnsemblePosterior) and isinstance(post, PopulationEnsemblePosterior)
    np.testing.assert_allclose(post.mean[:, 0].numpy(), Y.mean(axis=0))
    np.testing.assert_allclose(post.variance[:, 0].numpy(), Y.var(axis=0, ddof=0))


def test_ucb_beta_kappa_squared_is_mean_plus_kappa_sigma(Y: np.ndarray) -> None:
    model = PrecomputedEnsembleModel(Y[..., :1])
    X = model.candidate_inputs().unsqueeze(-2)
    got = UpperConfidenceBound(model, beta=1.5**2)(X).detach().numpy()
    np.testing.assert_allclose(got, Y[..., 0].mean(0) + 1.5 * Y[..., 0].std(0), rtol=1e-12)
    sd = PosteriorStandardDeviation(model)(X).detach().numpy()
    np.testing.assert_allclose(sd, Y[..., 0].std(0), rtol=1e-12)


def test_mc_acquisition_and_optimize_acqf_discrete_work(Y: np.ndarray) -> None:
    model = PrecomputedEnsembleModel(Y[..., :1])
    acqf = qLogExpectedImprovement(model, best_f=0.5, sampler=IndexSampler(torch.Size([64]), seed=0))
    cand, _ = optimize_acqf_discrete(acqf, q=3, choices=model.candidate_inputs())
    assert cand.shape == (3, 1)
    assert len(set(cand[:, 0].tolist())) == 3


def test_out_of_range_index_raises(Y: np.ndarray) -> None:
    model = PrecomputedEnsembleModel(Y)
    with pytest.raises(CampaignError, match="out of range"):
        model(torch.tensor([[[30.0]]]))


def test_predictions_must_be_three_dimensional() -> None:
    with pytest.raises(CampaignError, match="s x n x m"):
        PrecomputedEnsembleModel(np.zeros((5, 10)))
