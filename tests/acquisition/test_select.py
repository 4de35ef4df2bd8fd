"""select_batch: exact orderings, diversity, exclusions, determinism, pareto, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from drxlab.acquisition.select import KINDS, Selection, hypervolume_contributions, select_batch
from drxlab.exceptions import CampaignError, DrxlabError


def synthetic(
    n: int = 40, d: int = 4, m: int = 1, s: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated X rows and member predictions with distinct means and spreads."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, d)) * 2.0
    mean = rng.normal(150.0, 30.0, size=(n, m))
    std = rng.uniform(1.0, 25.0, size=(n, m))
    z = rng.normal(size=(s, n, m))
    z = (z - z.mean(0)) / z.std(0)  # exactly zero mean and unit population std per point
    return X, mean + std * z


def test_greedy_ranks_exactly_by_mean() -> None:
    X, Y = synthetic()
    sel = select_batch(X, Y, kind="greedy", batch=10, min_distance=0.0)
    np.testing.assert_array_equal(sel.indices, np.argsort(-Y[..., 0].mean(0))[:10])
    np.testing.assert_allclose(sel.acquisition, Y[..., 0].mean(0)[sel.indices])


def test_explore_ranks_exactly_by_population_std() -> None:
    X, Y = synthetic()
    sel = select_batch(X, Y, kind="explore", batch=10, min_distance=0.0)
    np.testing.assert_array_equal(sel.indices, np.argsort(-Y[..., 0].std(0, ddof=0))[:10])
    np.testing.assert_allclose(sel.std[:, 0], Y[..., 0].std(0, ddof=0)[sel.indices])


@pytest.mark.parametrize("kappa", [0.0, 1.0, 2.0, 3.5])
def test_ucb_ranks_exactly_by_mean_plus_kappa_sigma(kappa: float) -> None:
    X, Y = synthetic()
    score = Y[..., 0].mean(0) + kappa * Y[..., 0].std(0, ddof=0)
    sel = select_batch(X, Y, kind="ucb", batch=12, kappa=kappa, min_distance=0.0)
    np.testing.assert_array_equal(sel.indices, np.argsort(-score)[:12])
    np.testing.assert_allclose(sel.acquisition, score[sel.indices], rtol=1e-12)


def test_selection_reports_mean_and_std_of_every_objective() -> None:
    X, Y = synthetic(m=3)
    sel = select_batch(X, Y, kind="ucb", batch=5)
    assert isinstance(sel, Selection) and sel.complete and sel.warning is None and len(sel) == 5
    np.testing.assert_allclose(sel.mean, Y.mean(0)[sel.indices])
    np.testing.assert_allclose(sel.std, Y.std(0)[sel.indices])
    assert not sel.indices.flags.writeable


def cluster_on_top(n_cluster: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Eight near-identical compositions with the best predictions, plus spread-out others."""
    X, Y = synthetic(n=60, d=4)
    X[:n_cluster] = X[0] + np.random.default_rng(1).uniform(0, 0.005, size=(n_cluster, 4))
    Y[:, :n_cluster] += 500.0
    return X, Y


@pytest.mark.parametrize("kind", ["ucb", "greedy", "logei", "pi", "thompson"])
def test_batch_contains_one_of_a_near_identical_top_cluster(kind: str) -> None:
    X, Y = cluster_on_top()
    sel = select_batch(X, Y, kind=kind, batch=8, best_f=200.0, min_distance=0.1)
    assert len(sel) == 8
    assert np.isin(sel.indices, np.arange(8)).sum() == 1
    assert sel.min_distance >= 0.1
    pairwise = np.abs(X[sel.indices][:, None] - X[sel.indices][None]).sum(-1)
    assert sel.min_distance == pytest.approx(pairwise[np.triu_indices(8, 1)].min())


def test_too_few_distant_candidates_returns_fewer_with_warning() -> None:
    X = np.zeros((10, 3))
    X[5:] = 1.0  # two tight groups, L1 = 3 apart
    Y = np.random.default_rng(0).normal(size=(5, 10, 1))
    sel = select_batch(X, Y, kind="greedy", batch=4, min_distance=0.5)
    assert len(sel) == 2 and not sel.complete and sel.requested == 4
    assert "only 2 of 4" in sel.warning
    assert sel.min_distance == pytest.approx(3.0)


def test_excluded_candidates_are_never_picked() -> None:
    X, Y = synthetic()
    best = np.argsort(-Y[..., 0].mean(0))
    exclude = np.zeros(len(X), dtype=bool)
    exclude[best[:3]] = True
    sel = select_batch(X, Y, kind="greedy", batch=5, min_distance=0.0, exclude=exclude)
    np.testing.assert_array_equal(sel.indices, best[3:8])


def test_single_pick_has_infinite_min_distance() -> None:
    X, Y = synthetic()
    assert select_batch(X, Y, kind="ucb", batch=1).min_distance == np.inf


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_deterministic_for_a_seed(kind: str) -> None:
    X, Y = synthetic(m=2)
    a = select_batch(X, Y, kind=kind, batch=6, best_f=170.0, seed=3)
    b = select_batch(X, Y, kind=kind, batch=6, best_f=170.0, seed=3)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.acquisition, b.acquisition)


def test_thompson_depends_on_the_seed_and_follows_one_member_per_slot() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((30, 3)) * 2
    Y = np.zeros((5, 30, 1))
    for k in range(5):  # each member has its own favourite
        Y[k, :, 0] = rng.normal(size=30)
        Y[k, 5 * k, 0] = 10.0
    picks = {tuple(select_batch(X, Y, kind="thompson", batch=1, seed=seed).indices) for seed in range(10)}
    assert len(picks) > 1
    assert picks <= {(0,), (5,), (10,), (15,), (20,)}
    sel = select_batch(X, Y, kind="thompson", batch=3, seed=4, min_distance=0.0)
    members = [np.flatnonzero(Y[:, i, 0] == v)[0] for i, v in zip(sel.indices, sel.acquisition)]
    for slot, (i, k) in enumerate(zip(sel.indices, members)):
        others = np.delete(np.arange(30), sel.indices[:slot])
        assert Y[k, i, 0] == Y[k, others, 0].max()


def test_logei_prefers_high_mean_and_high_sigma() -> None:
    X = np.eye(3) * 2  # far apart
    centre = np.array([200.0, 150.0, 150.0])
    spread = np.array([10.0, 40.0, 1.0])
    z = np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) / np.sqrt(2.0)  # population std 1
    Y = (centre + spread * z[:, None])[..., None]
    sel = select_batch(X, Y, kind="logei", batch=3, best_f=195.0)
    assert sel.indices[0] == 0  # highest mean
    assert sel.indices.tolist().index(1) < sel.indices.tolist().index(2)  # same mean: larger σ first
    assert np.all(np.diff(sel.acquisition) <= 0)
    pi = select_batch(X, Y, kind="pi", batch=3, best_f=195.0)
    assert pi.indices[0] == 0 and np.all(pi.acquisition <= 0)  # log probabilities


def test_pareto_returns_non_dominated_points_first() -> None:
    X, Y = synthetic(n=80, m=2, seed=2)
    means = Y.mean(0)
    nd = is_non_dominated(torch.as_tensor(means)).numpy()
    k = int(nd.sum())
    sel = select_batch(X, Y, kind="pareto", batch=k + 3, min_distance=0.0)
    assert set(sel.indices[:k]) == set(np.flatnonzero(nd))
    assert sel.front.tolist() == [0] * k + [1] * 3
    assert np.all(np.diff(sel.acquisition[:k]) <= 0)  # by hypervolume contribution


def test_pareto_three_objectives_layers_in_order() -> None:
    X, Y = synthetic(n=80, m=3, seed=5)
    nd = is_non_dominated(torch.as_tensor(Y.mean(0))).numpy()
    sel = select_batch(X, Y, kind="pareto", batch=int(nd.sum()) + 2, min_distance=0.0)
    assert set(sel.indices[: nd.sum()]) == set(np.flatnonzero(nd))
    assert np.all(np.diff(sel.front) >= 0)


def test_pareto_ref_point_must_match_objectives() -> None:
    X, Y = synthetic(m=2)
    with pytest.raises(CampaignError, match="ref_point"):
        select_batch(X, Y, kind="pareto", batch=2, ref_point=np.zeros(3))
    sel = select_batch(X, Y, kind="pareto", batch=2, ref_point=Y.mean(0).min(0) - 1.0)
    assert len(sel) == 2 and sel.front[0] == 0 and np.all(sel.acquisition > 0)


def test_hypervolume_contributions_match_botorch_leave_one_out() -> None:
    rng = np.random.default_rng(0)
    for m in (2, 3):
        Y = rng.random((40, m))
        front = Y[is_non_dominated(torch.as_tensor(Y)).numpy()]
        ref = np.full(m, -0.1)
        hv = Hypervolume(torch.as_tensor(ref))
        total = hv.compute(torch.as_tensor(front))
        loo = [total - hv.compute(torch.as_tensor(np.delete(front, i, 0))) for i in range(len(front))]
        np.testing.assert_allclose(hypervolume_contributions(front, ref), loo, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "bogus"}, "allowed: ucb, logei, pi, thompson, greedy, explore, pareto, random"),
        ({"batch": 0}, "batch=0 must be"),
        ({"kind": "logei", "best_f": None}, "needs best_f"),
        ({"kind": "pareto"}, "m >= 2"),
        ({"min_distance": -1.0}, "min_distance=-1.0"),
        ({"kappa": -1.0}, "kappa=-1.0"),
        ({"exclude": np.ones(40, dtype=bool)}, "already made or suggested"),
        ({"exclude": np.ones(3, dtype=bool)}, "exclude must be"),
    ],
)
def test_bad_arguments_raise_campaign_error(kwargs: dict, match: str) -> None:
    X, Y = synthetic()
    args = {"kind": "ucb", "batch": 3} | kwargs
    with pytest.raises(CampaignError, match=match):
        select_batch(X, Y, **args)


def test_mismatched_shapes_raise() -> None:
    X, Y = synthetic()
    with pytest.raises(DrxlabError, match="X must be n x d"):
        select_batch(X[:-1], Y, kind="ucb", batch=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    n=st.integers(1, 40),
    d=st.integers(1, 4),
    kind=st.sampled_from(KINDS),
    batch=st.integers(1, 10),
    min_distance=st.floats(0.0, 1.5),
)
def test_property_min_distance_and_exclusions_hold(data, n, d, kind, batch, min_distance) -> None:
    finite = st.floats(-5, 5, allow_nan=False, allow_infinity=False)
    X = data.draw(arrays(np.float64, (n, d), elements=st.floats(0, 2, allow_nan=False)))
    Y = data.draw(arrays(np.float64, (5, n, 2), elements=finite))
    exclude = data.draw(arrays(np.bool_, (n,)))
    if exclude.all():
        exclude[0] = False
    sel = select_batch(
        X, Y, kind=kind, batch=batch, best_f=0.0, min_distance=min_distance, exclude=exclude, seed=1
    )
    assert 1 <= len(sel) <= batch
    assert not exclude[sel.indices].any()
    assert len(set(sel.indices.tolist())) == len(sel)
    pairwise = np.abs(X[sel.indices][:, None] - X[sel.indices][None]).sum(-1)
    off = pairwise[np.triu_indices(len(sel), 1)]
    assert np.all(off >= min_distance)
    assert sel.min_distance == (off.min() if len(off) else np.inf)
    assert sel.complete == (sel.warning is None)


@pytest.mark.parametrize("kind", ["ucb", "logei", "thompson", "pareto"])
def test_screens_1e5_candidates_quickly(kind: str) -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    X = rng.dirichlet(np.ones(8), size=n) * 2
    Y = rng.normal(size=(5, n, 3)) * [10.0, 1.0, 1.0] + (X[:, :3] @ rng.random((3, 3)) * 100)[None]
    start = time.perf_counter()
    sel = select_batch(X, Y, kind=kind, batch=20, best_f=150.0)
    assert time.perf_counter() - start < 10.0  # typically well under 2 s on 2 cores
    assert len(sel) == 20 and sel.min_distance >= 0.1
