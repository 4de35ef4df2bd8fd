"""Pending samples (kriging believer) and P(feasible) in a suggestion round, released ensemble.

Same small Li-Mn-O-F space as test_suggest_unit (screened once per module).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from drxlab.acquisition.pending import believe
from drxlab.acquisition.select import select_batch
from drxlab.candidates.spec import load_spec
from drxlab.chem import compositions
from drxlab.model.io import load_released_ensemble
from drxlab.store import queries
from drxlab.store.db import Store
from drxlab.workflow.feasibility import NO_FAILURES
from drxlab.workflow.ingest import material
from drxlab.workflow.screening import Screen, screen
from tests.conftest import UPSTREAM, require_shared
from tests.workflow.test_suggest_unit import CAMPAIGN, formulas_of, new_store, run


@pytest.fixture(scope="module")
def scored() -> Screen:
    return screen(load_spec(CAMPAIGN), load_released_ensemble(require_shared(UPSTREAM / "pretrained")))


@pytest.fixture
def lab(scored: Screen) -> Iterator[Store]:
    st = new_store(load_released_ensemble(require_shared(UPSTREAM / "pretrained")))
    yield st
    st.engine.dispose()


def test_second_batch_without_results_is_diverse_and_ranks_by_the_fantasised_posterior(
    lab: Store, scored: Screen
) -> None:
    # on the raw ensemble (calibration none), so the believer's effect is all the ranking sees
    first = run(lab, scored, kind="ucb", seed=0, calibration="none")
    second = run(lab, scored, kind="ucb", seed=0, calibration="none")
    gap = first.params["min_distance"]
    forms = formulas_of(scored)
    X = np.hstack([scored.X, np.zeros((len(forms), 1))])
    pend = np.array([forms.index(r.formula) for r in first.rows])
    got = np.array([forms.index(r.formula) for r in second.rows])
    # diverse w.r.t. the first batch: reported, and true
    dist = min(np.abs(X[pend] - X[i]).sum(axis=1).min() for i in got)
    assert second.pending == len(first.rows) and second.pending_distance == dist >= gap
    # ranked by UCB on the fantasised posterior: same mean, σ shrunk near the pending batch
    Yb = believe(scored.Y, X, pend)
    ucb = Yb[..., 0].mean(0) + second.params["kappa"] * Yb[..., 0].std(0)
    np.testing.assert_allclose([r.acquisition for r in second.rows], ucb[got], rtol=1e-6)
    assert (Yb[..., 0].std(0)[pend] < 0.05 * scored.Y[..., 0].std(0)[pend]).all()
    near = np.abs(X - X[pend[0]]).sum(axis=1) < 0.2
    assert (Yb[..., 0].std(0)[near] <= scored.Y[..., 0].std(0)[near] + 1e-9).all()
    # what plain exclusion would rank first differs where the believer lowered σ
    exclude = np.isin(np.arange(len(forms)), pend)
    for i in pend:
        exclude |= np.abs(X - X[i]).sum(axis=1) < gap
    plain = select_batch(X, scored.Y[..., :1], kind="ucb", batch=4, min_distance=gap, exclude=exclude)
    fantasised = select_batch(X, Yb[..., :1], kind="ucb", batch=4, min_distance=gap, exclude=exclude)
    assert list(fantasised.indices) == list(got)
    # the recorded σ is the model's own, not the fantasised one
    np.testing.assert_allclose([r.sigma for r in second.rows], scored.Y[:, got, 0].std(0))
    print(f"min L1 distance to the pending batch {dist:.3f}; plain order {plain.indices}, believer {got}")


def test_feasibility_note_without_failures_and_p_with_them(lab: Store, scored: Screen) -> None:
    rnd = run(lab, scored, kind="ucb", seed=0)
    assert rnd.feasibility == NO_FAILURES and all(r.p_feasible is None for r in rnd.rows)
    forms = formulas_of(scored)
    f_of = {f: dict(zip(scored.elements, x)).get("F", 0.0) for f, x in zip(forms, scored.X)}
    with lab.transaction() as s:  # high-F syntheses failed, low-F ones worked
        for f in [f for f in forms if f_of[f] >= 0.4][::6]:
            mat = material(s, f, compositions.amounts(f), {})
            smp = queries.add_sample(s, mat.id)
            queries.mark_failed(s, smp, "f_not_incorporated", "LiF in XRD")
        for f in [f for f in forms if f_of[f] <= 0.1][::6]:  # made (status only: no states guessed)
            queries.add_sample(s, material(s, f, compositions.amounts(f), {}).id, status="tested")
    rnd = run(lab, scored, kind="ucb", seed=0, n=8)
    assert rnd.feasibility.startswith("feasibility: logistic on")
    p = {r.formula: r.p_feasible for r in rnd.rows}
    assert all(0 < v < 1 for v in p.values())
    assert all(f_of[f] < 0.4 for f in p)  # the learned boundary keeps the batch at low F
    with lab.reader() as s:  # stored with each suggestion, as shown
        stored = {
            r.formula: json.loads(queries.suggestion_of_sample(s, r.sample_id).params_json) for r in rnd.rows
        }
    assert {f: v["p_feasible"] for f, v in stored.items()} == p
    off = run(lab, scored, kind="ucb", seed=0, n=8, feasibility=False)
    assert off.feasibility == "feasibility: off" and all(r.p_feasible is None for r in off.rows)
