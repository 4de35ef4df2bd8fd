"""What P(feasible) costs a suggestion round: fit, predict every candidate, weighted selection.

Timed in the same run as the plain UCB selection it is compared with (:func:`bench_feasibility`).
The model is fitted on ``n_labelled`` candidates of the space labelled by the virtual lab's
synthesis rules (a campaign's worth of syntheses and more; the fit is not the expensive part).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from drxlab.acquisition.feasibility import FeasibilityModel, Moments, features, prior_for, state_matrix
from drxlab.acquisition.select import select_batch
from drxlab.lab.synthesis import SynthesisRules


def bench_feasibility(
    elements: Sequence[str],
    species: Sequence[str],
    X: np.ndarray,
    species_amounts: np.ndarray,
    Y: np.ndarray,
    batch: int = 8,
    n_labelled: int = 300,
) -> dict:
    """Seconds for UCB selection without and with P(feasible) on the same ``n x d`` candidates
    ``X`` and ``s x n x 1`` predictions ``Y``, and their ratio."""
    elements = list(elements)
    t0 = time.perf_counter()
    plain = select_batch(X, Y, kind="ucb", batch=batch, kappa=2.0, min_distance=0.1, seed=0)
    t_plain = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    idx = rng.choice(len(X), size=min(n_labelled, len(X)), replace=False)
    rules = SynthesisRules()
    ok = np.array([rules.feasible({el: a for el, a in zip(elements, X[i]) if a > 0}) for i in idx])
    if ok.all() or not ok.any():  # one outcome only: nothing to fit; label the first one the other way
        ok[0] = not ok[0]
    t1 = time.perf_counter()
    F, names = features(elements, X, state_matrix(elements, species, species_amounts))
    model = FeasibilityModel.fit(
        F[idx], ok, names=names, prior_precision=prior_for(names), reference=Moments.of(F)
    )
    t_fit = time.perf_counter() - t1
    p = model.predict(F)
    t_pred = time.perf_counter() - t1 - t_fit
    weighted = select_batch(X, Y, kind="ucb", batch=batch, kappa=2.0, min_distance=0.1, seed=0, feasibility=p)
    t_total = time.perf_counter() - t1
    return {
        "candidates": len(X),
        "acquisition_s": t_plain,
        "acquisition_with_feasibility_s": t_total,
        "feasibility_fit_s": t_fit,
        "feasibility_predict_s": t_pred,
        "feasibility_over_plain": t_total / t_plain,
        "labelled": len(idx),
        "p_feasible_of_picks_plain": float(p[plain.indices].mean()),
        "p_feasible_of_picks_weighted": float(p[weighted.indices].mean()),
    }
