"""Fitting a round's posterior transform from the store and the few screened rows it reads.

The fits (:mod:`drxlab.acquisition.posterior`) need the store (measured results, failed
syntheses, pending samples) and, from the screen, only the predictions at the measured and
pending compositions (:class:`Rows`) and the absolute median of the primary objective's mean
over the space (the calibration fallback's scale). Both executors hand exactly these to
:func:`fit`: the local round picks the rows out of its screen, a Ray screen collects them from
its workers, so the fitted transform is the same value on both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from drxlab.acquisition.calibration import Calibration
from drxlab.acquisition.feasibility import Moments, weight_scores
from drxlab.acquisition.pending import Believer
from drxlab.acquisition.posterior import Applied, FeasibilityMap, PosteriorTransform, with_rest
from drxlab.acquisition.select import score_block
from drxlab.candidates.spec import CampaignSpec
from drxlab.store import queries
from drxlab.vocabulary import SampleStatus
from drxlab.workflow import calibrate
from drxlab.workflow.feasibility import fit_map
from drxlab.workflow.screening import Screen

FEASIBILITY_OFF = "feasibility: off"


@dataclass(frozen=True, eq=False)
class Rows:
    """Screened rows the fits read, in candidate order.

    Attributes:
        formulas: ``n`` formulas; X: ``n x d`` element amounts; Y: ``s x n x m`` member
            predictions; species_amounts: ``n x k`` (per f.u.); elements, species: the screen's
            column labels of ``X`` and ``species_amounts``.
    """

    formulas: tuple[str, ...]
    X: np.ndarray
    Y: np.ndarray
    species_amounts: np.ndarray
    elements: tuple[str, ...] = ()
    species: tuple[str, ...] = ()

    @classmethod
    def of_screen(cls, sc: Screen, formulas: Sequence[str], wanted: frozenset[str]) -> Rows:
        """The rows of ``sc`` (whose formulas are ``formulas``) that ``wanted`` names."""
        idx = np.array([i for i, f in enumerate(formulas) if f in wanted], dtype=np.int64)
        return cls(
            tuple(formulas[i] for i in idx),
            sc.X[idx],
            sc.Y[:, idx],
            sc.species_amounts[idx],
            sc.elements,
            sc.species,
        )


@dataclass(frozen=True, eq=False)
class Fitted:
    """A round's fitted transform and what it says about itself."""

    transform: PosteriorTransform
    calibration: Calibration
    feasibility: str  # what the feasibility model did, or why it was not used
    pending: int  # pending samples of the campaign in the space (fantasised)


def wanted(session: Session, campaign_ids: list[int], spec: CampaignSpec) -> frozenset[str]:
    """Formulas whose predictions the fits need: measured and pending samples of the campaign."""
    return frozenset(
        calibrate.measured_formulas(session, campaign_ids, spec) | _pending(session, campaign_ids)
    )


def fit(
    session: Session,
    spec: CampaignSpec,
    campaign_ids: list[int],
    *,
    rows: Rows,
    typical: float,
    calibration: str,
    feasibility: bool,
    min_distance: float,
    space: Callable[[FeasibilityMap], Moments],
    data_campaigns: Sequence[int] | None = None,
) -> Fitted:
    """Fit the round's transforms (calibration ``calibration``, the believer of the campaign's
    pending samples, P(feasible) when ``feasibility``) on the store and ``rows`` (whose element
    and species labels are the screen's columns).

    ``typical``: absolute median over the space of the primary objective's ensemble mean (1 when
    it is 0). ``space``: the candidate space's feature moments in a map's columns (the feasibility
    model is standardised on them). ``data_campaigns``: the campaigns whose syntheses the
    feasibility model learns from (default all).
    """
    mean, std = rows.Y[..., 0].mean(0), rows.Y[..., 0].std(0)
    now = {f: (float(m), float(s)) for f, m, s in zip(rows.formulas, mean, std)}
    cal = calibrate.fit_on(session, campaign_ids, spec, rows.elements, now, typical, calibration)
    waiting = _pending(session, campaign_ids)
    pend = np.array([i for i, f in enumerate(rows.formulas) if f in waiting], dtype=np.int64)
    believer = None
    if len(pend):
        # the believer observes the calibrated posterior at the pending compositions
        Yp = PosteriorTransform(cal).calibrated(rows.X[pend], np.ascontiguousarray(rows.Y[:, pend]))
        believer = Believer.fit(Yp, with_rest(rows.X[pend]))
    feas, note = (
        fit_map(session, rows.elements, rows.species, space, data_campaigns)
        if feasibility
        else (None, FEASIBILITY_OFF)
    )
    return Fitted(PosteriorTransform(cal, believer, feas, min_distance), cal, note, len(pend))


def apply_to_screen(transform: PosteriorTransform, sc: Screen) -> Applied:
    """``transform`` over a whole screen, chunk by chunk as the screen was predicted (the chunks a
    Ray worker applies it to)."""
    if not transform.moves_members and transform.feasibility is None:
        return Applied(sc.Y, sc.Y, None, np.zeros(sc.size, bool))
    step = sc.chunk
    return Applied.concat(
        [
            transform.apply(
                sc.X[i : i + step],
                np.ascontiguousarray(sc.Y[:, i : i + step]),
                sc.species_amounts[i : i + step],
            )
            for i in range(0, len(sc.X), step)
        ]
    )


def _pending(session: Session, campaign_ids: list[int]) -> set[str]:
    return {
        m.formula
        for smp, m in queries.samples_of_campaign(session, campaign_ids)
        if SampleStatus(smp.status).pending
    }


def score_screen(
    applied: Applied,
    chunk: int,
    eligible: np.ndarray,
    *,
    kind: str,
    kappa: float,
    best_f: float | None,
    xi: float,
) -> np.ndarray:
    """Acquisition values ``(n,)`` of a whole screen, ``-inf`` where not eligible, weighted by
    P(feasible) when ``applied`` has it: block by block (``chunk`` candidates), with the whole
    space's lowest eligible score as the weighting's floor, as the Ray workers compute them."""
    blocks = [slice(i, i + chunk) for i in range(0, len(eligible), chunk)]
    scores = [
        score_block(np.ascontiguousarray(applied.rank[:, b]), eligible[b], kind, kappa, best_f, xi)
        for b in blocks
    ]
    if applied.p_feasible is None:
        return np.concatenate(scores)
    finite = [s[np.isfinite(s)] for s in scores]
    floor = min((float(f.min()) for f in finite if len(f)), default=np.inf)
    return np.concatenate(
        [weight_scores(s, applied.p_feasible[b], kind, floor) for s, b in zip(scores, blocks)]
    )
