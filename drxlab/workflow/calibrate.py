"""Calibration of a campaign's posterior from the store: which residuals, and where the record lives.

When it is fitted: at suggest time, from everything the store holds (so a result logged a
second ago counts, with no training). Which residuals:

- ``scale`` uses *prospective* residuals: the measured value minus the mean the ensemble
  predicted when it suggested that composition (``Suggestion.predicted``, ``predicted_std``),
  so the σ it learns is the one a lab sees before a synthesis. A measured composition without a
  suggestion uses the current ensemble's prediction (leave-one-composition-out with the ensemble
  fixed: the ensemble was not trained on the campaign's own tests unless it was fine-tuned).
- ``gp`` corrects the *current* ensemble, so its targets are the measured values minus the
  current ensemble mean at the objective's conditions; its prior variance is floored by the
  prospective residuals (a fine-tuned ensemble fits its own training compositions, so its
  current residuals understate its errors elsewhere), and its predictive variance is scaled by
  predicting each suggestion round's residuals from the rounds before it (``Sample.round``).

Where the record lives: in the model version's ``metrics_json["calibration"][campaign]`` (the
record, its sha256, the element order of its composition vectors and the objective), refreshed
by every ``suggest``; each suggestion also keeps the sha256 it used in its params, so a round can
be reproduced. ``predict`` and ``status`` read it back, checking the hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlmodel import Session

from drxlab.acquisition.calibration import MIN_POINTS, Calibration, CalibrationError, fit
from drxlab.candidates.spec import CampaignSpec
from drxlab.profiles.process import energy_density
from drxlab.store import queries
from drxlab.store.tables import ModelVersion, dumps
from drxlab.vocabulary import ObjectiveKind

if TYPE_CHECKING:  # status reads records without importing torch (the screen's model package)
    from drxlab.workflow.screening import Screen

__all__ = ["Stored", "fit_for_campaign", "measured", "save", "stored"]

KEY = "calibration"


@dataclass(frozen=True)
class Stored:
    """A calibration read back from a model version, with what its composition vectors mean."""

    calibration: Calibration
    campaign: str
    elements: tuple[str, ...]
    objective: str

    def apply(
        self, amounts: list[dict[str, float]], mean: np.ndarray, std: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated (mean, σ) of compositions given as element → amount dicts."""
        from drxlab.workflow.screening import features

        X = np.array([features(self.elements, a) for a in amounts]) if amounts else np.zeros((0, 1))
        return self.calibration.apply(X, mean, std)


def measured(session: Session, campaign_ids: list[int], spec: CampaignSpec) -> dict[int, float]:
    """Measured primary-objective value per tested sample of the campaign (objective units).

    The same quantity as :func:`drxlab.workflow.suggest.best_measured` compares with: capacity at
    the objective's rate and cycle (mAh/g), energy (mWh/g) or retention (a ratio); the first test
    of a sample at those conditions counts.
    """
    obj = spec.objectives[0]
    recs = [
        rec
        for cid in campaign_ids
        for rec in queries.test_records(session, campaign_id=cid, max_cycle=obj.cycle)
        if obj.cycle in rec.profiles
    ]

    def at(rate: float) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for r in recs:
            if abs(r.rate - rate) <= 1e-6:
                out.setdefault(r.sample_id, r.profiles[obj.cycle][:2])
        return out

    if obj.kind == ObjectiveKind.RETENTION:
        base = {sid: float(q[0]) for sid, (_, q) in at(obj.base_rate).items()}
        return {sid: float(q[0]) / base[sid] for sid, (_, q) in at(obj.rate).items() if base.get(sid, 0) > 0}
    if obj.kind == ObjectiveKind.ENERGY:
        return {sid: float(energy_density(v, q)) for sid, (v, q) in at(obj.rate).items()}
    return {sid: float(q[0]) for sid, (_, q) in at(obj.rate).items()}


def fit_for_campaign(
    session: Session,
    campaign_ids: list[int],
    spec: CampaignSpec,
    sc: Screen,
    formulas: list[str],
    method: str,
) -> Calibration:
    """Fit ``method`` on the campaign's measured compositions (see the module docstring)."""
    mean_now, std_now = sc.Y[..., 0].mean(0), sc.Y[..., 0].std(0)
    index = {f: i for i, f in enumerate(formulas)}
    now = {f: (float(mean_now[i]), float(std_now[i])) for f, i in index.items()}
    typical = float(abs(np.median(mean_now))) or 1.0
    return fit_on(session, campaign_ids, spec, sc.elements, now, typical, method)


def fit_on(
    session: Session,
    campaign_ids: list[int],
    spec: CampaignSpec,
    elements: tuple[str, ...],
    now: Mapping[str, tuple[float, float]],
    typical: float,
    method: str,
) -> Calibration:
    """:func:`fit_for_campaign` from what it reads of the screen: the current ensemble's (mean,
    σ) of the primary objective per formula of the space (at least the measured ones), and
    ``typical``, the absolute median of that mean over the space (the fallback prior's scale)."""
    from drxlab.workflow.screening import features

    values = measured(session, campaign_ids, spec)
    per_formula: dict[str, list[tuple[float, float, float, np.ndarray, int]]] = {}
    prospective = []
    for sid, y in values.items():
        smp = queries.sample(session, sid)
        mat = queries.material(session, smp.material_id)
        sug = queries.suggestion_of_sample(session, sid)
        if sug is not None:
            prospective.append((y - sug.predicted, sug.predicted_std))
        if method == "gp":
            sug = None  # the GP corrects the current ensemble
        if sug is not None:
            mu, sd = sug.predicted, sug.predicted_std
        elif mat.formula in now:
            mu, sd = now[mat.formula]
        else:
            continue  # outside the space and never predicted: no residual to learn from
        x = features(elements, json.loads(mat.amounts_json))
        # the round it was suggested in orders the GP's forward validation (0: logged by hand)
        per_formula.setdefault(mat.formula, []).append((y, mu, sd, x, smp.round or 0))
    # one row per composition: replicate cells of one composition average into one residual
    rows = [
        (np.mean([v[0] - v[1] for v in vs]), np.mean([v[2] for v in vs]), vs[0][3], min(v[4] for v in vs))
        for vs in per_formula.values()
    ]
    if not rows:
        return fit(method, np.zeros((0, len(elements) + 1)), np.zeros(0), np.zeros(0), typical=typical)
    r, s, X, rounds = (np.array(c) for c in zip(*rows))
    # a GP on a fine-tuned ensemble's residuals sees small errors; its prior variance is kept
    # at least at the excess error the ensemble showed before each measurement
    pro = tuple(np.array(c) for c in zip(*prospective)) if len(prospective) >= MIN_POINTS else None
    return fit(method, X, r, s, typical=typical, prospective=pro, rounds=rounds)


def measured_formulas(session: Session, campaign_ids: list[int], spec: CampaignSpec) -> set[str]:
    """Formulas of the campaign's samples with a measured primary objective."""
    return {
        queries.material(session, queries.sample(session, sid).material_id).formula
        for sid in measured(session, campaign_ids, spec)
    }


def save(
    session: Session, version: ModelVersion, campaign: str, spec: CampaignSpec, sc: Screen, cal: Calibration
) -> None:
    """Store ``cal`` as the version's calibration for ``campaign`` (its record and sha256).

    A record already there must be intact: a corrupt one stops the round (nothing is written),
    since it means the database was altered outside drxlab.
    """
    stored(version, campaign)
    metrics = json.loads(version.metrics_json or "{}")
    metrics.setdefault(KEY, {})[campaign] = {
        "record": cal.record(),
        "sha256": cal.sha256,
        "elements": list(sc.elements),
        "objective": _objective_label(spec),
    }
    version.metrics_json = dumps(metrics)
    session.add(version)


def stored(version: ModelVersion, campaign: str | None = None) -> Stored | None:
    """The version's calibration for ``campaign`` (or its only / first one when None).

    ``None`` when the version was never calibrated; :class:`CalibrationError` when a record is
    there but missing its parts or does not match its sha256.
    """
    try:
        entries = json.loads(version.metrics_json or "{}").get(KEY)
    except json.JSONDecodeError:
        entries = "unreadable"
    if entries is None:
        return None
    label = f"of model version {version.id}"
    if not isinstance(entries, dict):
        raise CalibrationError(f"calibration record {label} is corrupt (not a JSON object)")
    if campaign is None or campaign == "":
        if not entries:
            return None
        campaign = next(iter(entries))
    entry = entries.get(campaign)
    if entry is None:
        return None
    label = f"{label} for campaign {campaign!r}"
    if not isinstance(entry, dict) or "sha256" not in entry or "record" not in entry:
        raise CalibrationError(f"calibration record {label} is missing its record or its sha256")
    cal = Calibration.from_record(entry["record"], entry["sha256"], label=label)
    return Stored(cal, campaign, tuple(entry.get("elements", ())), str(entry.get("objective", "")))


def _objective_label(spec: CampaignSpec) -> str:
    o = spec.objectives[0]
    return f"{o.name}: {o.kind} at {o.rate:g} mA/g, {o.window[0]:g}–{o.window[1]:g} V, cycle {o.cycle}"


def of_suggestion(params_json: str) -> float | None:
    """The calibrated σ a suggestion was made with (``None`` for rounds before calibration)."""
    pair = json.loads(params_json or "{}").get("calibrated")
    return float(pair[1]) if pair else None


def describe(version: ModelVersion | None, campaign: str | None) -> str:
    """One line for ``status``: the calibration stored with the current model version."""
    if version is None:
        return ""
    found = stored(version, campaign)
    if found is None:
        return "not calibrated yet: the next `drxlab suggest` fits it from the measured results"
    cal = found.calibration
    return f"{found.campaign} ({cal.method}, {cal.sha256[:12]}): {cal.summary()}"


def compare(
    session: Session, campaign_ids: list[int], spec: CampaignSpec, sc: Screen, picks: list[str]
) -> dict[str, list[list[float]]]:
    """Raw and every method's calibrated ``[mean, σ]`` of the primary objective at ``picks``
    (formulas of the screen), each fitted on what the store holds now: the same suggestions
    scored by every calibrator, so simulations compare them on identical campaigns."""
    from drxlab.chem import compositions

    formulas = [compositions.format_formula(dict(zip(sc.elements, row))) for row in sc.X.tolist()]
    index = {f: i for i, f in enumerate(formulas)}
    idx = np.array([index[f] for f in picks], dtype=np.int64)
    mean, std = sc.Y[:, idx, 0].mean(0), sc.Y[:, idx, 0].std(0)
    X = np.hstack([sc.X[idx], np.zeros((len(idx), 1))])
    out = {"raw": np.stack([mean, std], 1).tolist()}
    for method in ("scale", "gp"):
        cal = fit_for_campaign(session, campaign_ids, spec, sc, formulas, method)
        out[method] = np.stack(cal.apply(X, mean, std), 1).tolist()
    return out
