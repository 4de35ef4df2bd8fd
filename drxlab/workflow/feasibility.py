"""The store's syntheses as feasibility data, and P(feasible) for a screened candidate space.

Successes are samples with a test (the powder made a cell); failures are failed samples whose
reason says the composition did not form (every :class:`~drxlab.vocabulary.FailureReason` but
``cell``; a failure logged before reasons existed counts as ``other``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from drxlab.acquisition.feasibility import FeasibilityModel, Moments, features, prior_for
from drxlab.acquisition.posterior import FeasibilityMap
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


def fit_map(
    session: Session,
    elements: Sequence[str],
    species: Sequence[str],
    space: Callable[[FeasibilityMap], Moments],
    campaign_ids: Sequence[int] | None = None,
) -> tuple[FeasibilityMap | None, str]:
    """The feasibility model fitted on the store's syntheses, ready to predict candidates of a
    screen with these element and species columns (``None`` when it cannot be fitted), and a
    line saying what was done.

    ``space``: the feature moments of the whole candidate space in the columns of the map it is
    given (its model not fitted yet), which the model is standardised on, so that what the history
    never varied stays uncertain over the space.
    """
    data = labelled(session, campaign_ids)
    n_bad = sum(not ok for _, _, ok in data)
    if n_bad == 0:
        return None, NO_FAILURES
    if n_bad == len(data):
        return None, f"feasibility: {n_bad} failed and no successful synthesis yet; ranking without it"
    extra = sorted({el for a, _, _ in data for el in a} - set(elements))
    all_elements = list(elements) + extra
    A = np.array([[a.get(el, 0.0) for el in all_elements] for a, _, _ in data])
    S = np.array([[s.get(el, 0.0) for el in all_elements] for _, s, _ in data])
    F, names = features(all_elements, A, S)
    columns = FeasibilityMap(None, tuple(all_elements), tuple(species))
    model = FeasibilityModel.fit(
        F,
        np.array([ok for _, _, ok in data]),
        names=names,
        prior_precision=prior_for(names),
        reference=space(columns),
    )
    return dataclasses.replace(columns, model=model), f"feasibility: {model.describe()}"


def screen_moments(sc: Screen) -> Callable[[FeasibilityMap], Moments]:
    """``fit_map``'s ``space`` for a screen held here: block by block as it was predicted, so
    the sums are the ones Ray workers return for the same blocks."""

    def of(columns: FeasibilityMap) -> Moments:
        return Moments.combine(
            columns.moments(sc.X[i : i + sc.chunk], sc.species_amounts[i : i + sc.chunk])
            for i in range(0, len(sc.X), sc.chunk)
        )

    return of
