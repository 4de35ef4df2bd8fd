"""The store's syntheses as feasibility data, and P(feasible) for a screened candidate space.

Successes are samples with a test (the powder made a cell); failures are failed samples whose
reason says the composition did not form (every :class:`~drxlab.vocabulary.FailureReason` but
``cell``; a failure logged before reasons existed counts as ``other``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from drxlab.acquisition.feasibility import FeasibilityModel, features, prior_for, state_matrix
from drxlab.chem.constants import balanced_states
from drxlab.store import queries
from drxlab.vocabulary import FailureReason, SampleStatus
from drxlab.workflow.screening import Screen

NO_FAILURES = "feasibility: no failed synthesis in the store yet; ranking without P(feasible)"


@dataclass(frozen=True)
class Feasibility:
    """P(feasible) per candidate (``None`` when not used) and a line saying what was done."""

    p: np.ndarray | None
    note: str


def labelled(
    session: Session, campaign_ids: Sequence[int] | None = None
) -> list[tuple[dict[str, float], dict[str, float], bool]]:
    """``(amounts, average states, succeeded)`` per made sample (of these campaigns, or all)."""
    rows = (
        queries.samples_of_campaign(session, campaign_ids) if campaign_ids else queries.all_samples(session)
    )
    out = []
    for smp, mat in rows:
        if smp.status == SampleStatus.TESTED:
            ok = True
        elif smp.status == SampleStatus.FAILED:
            reason = FailureReason(smp.failure_reason) if smp.failure_reason else FailureReason.OTHER
            if not reason.synthesis:
                continue
            ok = False
        else:
            continue
        amts = mat.amounts
        states = json.loads(mat.oxidation_json or "{}")
        if not states:  # a failed synthesis stored without states: the fast charge balance
            states = balanced_states(amts)
        out.append((amts, states, ok))
    return out


def for_screen(session: Session, sc: Screen, campaign_ids: Sequence[int] | None = None) -> Feasibility:
    """Fit the feasibility model on the store's syntheses and predict every screened candidate."""
    data = labelled(session, campaign_ids)
    n_bad = sum(not ok for _, _, ok in data)
    if n_bad == 0:
        return Feasibility(None, NO_FAILURES)
    if n_bad == len(data):
        return Feasibility(
            None, f"feasibility: {n_bad} failed and no successful synthesis yet; ranking without it"
        )
    extra = sorted({el for a, _, _ in data for el in a} - set(sc.elements))
    elements = list(sc.elements) + extra
    A = np.array([[a.get(el, 0.0) for el in elements] for a, _, _ in data])
    S = np.array([[s.get(el, 0.0) for el in elements] for _, s, _ in data])
    F, names = features(elements, A, S)
    Xc = np.hstack([sc.X, np.zeros((len(sc.X), len(extra)))])
    Fc, _ = features(elements, Xc, state_matrix(elements, sc.species, sc.species_amounts))
    # standardised on the candidate space: what the history never varied stays uncertain there
    model = FeasibilityModel.fit(
        F, np.array([ok for _, _, ok in data]), names=names, prior_precision=prior_for(names), reference=Fc
    )
    return Feasibility(model.predict(Fc), f"feasibility: {model.describe()}")
