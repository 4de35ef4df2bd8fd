"""Every number of a campaign report, collected from the store in one read-only pass.

:func:`collect` reads the campaign's samples, suggestions, tests and model versions, loads each
model version the curve panels need once, enumerates the candidate space once, and returns a
frozen :class:`ReportData`. Figures and renderers only format it; :meth:`ReportData.numbers`
is what ``drxlab report --json`` prints.

Units: capacities in mAh/g, energies in mWh/g, rates in mA/g, voltages in V; the primary
objective's unit is :attr:`ReportData.unit`.

Example::

        with store.reader() as s:
            data = collect(s, "he-drx")
        [r.best_so_far for r in data.rounds]
        # -> [231.4, 245.0, 245.0]
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from drxlab.candidates.generator import iter_candidates
from drxlab.candidates.spec import CampaignSpec, Objective, load_spec
from drxlab.exceptions import CampaignError, DrxlabError
from drxlab.store import queries
from drxlab.store.tables import ElectrochemTest, Profile, unpack
from drxlab.vocabulary import SampleStatus
from drxlab.workflow import campaigns, models

MAX_PANELS = 12  # discharge-curve small multiples
RATE_TOLERANCE = 1e-6  # mA/g; a test "is at" the objective's rate within this
SECTIONS = ("progress", "parity", "calibration", "curves", "space", "tables")


@dataclass(frozen=True)
class SampleRow:
    """One sample of the campaign with what was predicted and what was measured.

    Attributes:
        round: suggestion round (0 = a sample without a round, e.g. imported starting data).
        predicted, sigma: primary objective mean and σ recorded with the suggestion (unit of
            the objective); None for a sample that was not suggested.
        objectives: objective name -> [mean, σ] recorded with the suggestion.
        measured: the primary objective measured on the sample's test (None if untested).
        basis: how ``measured`` was obtained: ``"objective"`` (test at the objective's rate and
            cycle) or ``"cycle-1 fallback (… mA/g)"``; ``""`` when unmeasured.
        test_id, cycle: the test and cycle ``measured`` comes from.
    """

    sample_id: int
    formula: str
    klass: str
    status: str
    round: int
    amounts: dict[str, float]
    suggested: bool
    rank: int | None = None
    model_version: int | None = None
    acquisition: str = ""
    predicted: float | None = None
    sigma: float | None = None
    objectives: dict[str, list[float]] = field(default_factory=dict)
    domain: str = ""
    measured: float | None = None
    basis: str = ""
    test_id: int | None = None
    cycle: int | None = None
    failure_reason: str = ""  # a FailureReason value for a failed sample ("other" if not recorded)
    calibrated: tuple[float, float] | None = None  # calibrated (mean, σ) it was suggested with, if any

    @property
    def compared(self) -> bool:
        """Suggested and measured: a prospective parity point."""
        return self.suggested and self.measured is not None and self.predicted is not None

    @property
    def error(self) -> float | None:
        """measured − predicted (objective unit), for compared samples."""
        return self.measured - self.predicted if self.compared else None

    @property
    def z_calibrated(self) -> float | None:
        """(measured − calibrated mean) / calibrated σ; None without a calibrated prediction."""
        if not self.compared or self.calibrated is None:
            return None
        mean, sigma = self.calibrated
        err = self.measured - mean
        if sigma > 0:
            return err / sigma
        return 0.0 if err == 0 else math.copysign(math.inf, err)

    @property
    def z(self) -> float | None:
        """(measured − predicted) / σ; ±inf for σ = 0 with a non-zero error."""
        if not self.compared:
            return None
        err = self.error
        if self.sigma and self.sigma > 0:
            return err / self.sigma
        return 0.0 if err == 0 else math.copysign(math.inf, err)


@dataclass(frozen=True)
class RoundSummary:
    """One round: counts, best measured so far, best predicted and the prospective MAE."""

    round: int
    suggested: int
    tested: int
    failed: int
    best_measured: float | None  # best measured in this round
    best_so_far: float | None  # best measured in this and earlier rounds
    predicted_best: float | None  # max predicted mean among this round's suggestions
    mae: float | None  # mean |measured − predicted| of this round's compared samples
    compared: int


@dataclass(frozen=True)
class Coverage:
    """Calibration of one model version (or ``None`` = all versions) on compared samples."""

    model_version: int | None
    n: int
    within_1sigma: float | None  # fraction with |z| ≤ 1 (ideal 0.683)
    within_2sigma: float | None  # fraction with |z| ≤ 2 (ideal 0.954)
    z: tuple[float, ...]
    # the same against the calibrated σ the suggestions were ranked with (rounds that had one)
    n_calibrated: int = 0
    within_1sigma_calibrated: float | None = None
    within_2sigma_calibrated: float | None = None


@dataclass(frozen=True)
class CurvePanel:
    """A measured discharge curve against the prediction of the suggesting model version.

    ``measured_v``/``measured_q`` and ``pred_v``/``pred_q``/``pred_std`` are ``(100,)`` arrays
    (V, mAh/g); the prediction is at the test's rate (mA/g), window (V) and ``cycle``.
    """

    sample_id: int
    formula: str
    round: int
    model_version: int
    rate: float
    v_low: float
    v_high: float
    cycle: int
    measured_v: np.ndarray
    measured_q: np.ndarray
    pred_v: np.ndarray | None
    pred_q: np.ndarray | None
    pred_std: np.ndarray | None


@dataclass(frozen=True)
class SpaceMap:
    """The candidate space and the samples on two element amounts per formula unit (chemistry
    axes a chemist reads directly: by default Li vs F, as in the DRXNet paper's Li–Mn–O–F map).

    Attributes:
        elements: the candidate space's elements.
        axes: the elements on x and y (amount per formula unit).
        candidates: ``k x 2`` distinct (x, y) points of untested candidates; ``counts``: ``k``
            candidates at each point (many compositions share an (x, y) point).
        groups: status -> ``n x 2`` sample positions.
        n_space: size of the candidate space.
        step: the space's grid step, per f.u.
        failure_reasons: the failure reason of each row of ``groups["failed"]``.
    """

    elements: tuple[str, ...]
    axes: tuple[str, str]
    candidates: np.ndarray
    counts: np.ndarray
    groups: dict[str, np.ndarray]
    n_space: int
    step: float
    failure_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pareto:
    """Predicted objectives (means) of the suggestions and which are non-dominated (maximised)."""

    names: tuple[str, ...]
    units: tuple[str, ...]
    sample_ids: tuple[int, ...]
    rounds: tuple[int, ...]
    points: np.ndarray  # n x m
    front: np.ndarray  # n bool


@dataclass(frozen=True)
class ReportData:
    """Everything a campaign report shows (see the module docstring for units)."""

    campaign: str
    revisions: tuple[int, ...]
    description: str
    objective: Objective
    unit: str
    samples: tuple[SampleRow, ...]
    rounds: tuple[RoundSummary, ...]
    syntheses: tuple[tuple[int, float | None], ...]  # (number of syntheses, best so far)
    coverage: tuple[Coverage, ...]  # per model version, then all versions (model_version None)
    panels: tuple[CurvePanel, ...]
    space: SpaceMap | None
    pareto: Pareto | None
    lineage: tuple[dict[str, Any], ...]
    inventory: dict[str, dict[str, dict[str, int]]]  # "campaign"/"store" -> class -> counts
    notes: dict[str, tuple[str, ...]]  # section -> explanatory notes

    @property
    def compared(self) -> list[SampleRow]:
        return [r for r in self.samples if r.compared]

    @property
    def mae(self) -> float | None:
        """Mean |measured − predicted| over all compared samples."""
        errs = [abs(r.error) for r in self.compared]
        return float(np.mean(errs)) if errs else None

    def numbers(self) -> dict[str, Any]:
        """JSON-friendly numbers of the report (non-finite values become None)."""
        o = self.objective
        return _finite(
            {
                "campaign": self.campaign,
                "revisions": list(self.revisions),
                "objective": {
                    "name": o.name,
                    "kind": o.kind,
                    "rate_mA_g": o.rate,
                    "window_V": list(o.window),
                    "cycle": o.cycle,
                    "unit": self.unit,
                },
                "rounds": [vars(r) for r in self.rounds],
                "best_so_far_by_synthesis": [{"syntheses": n, "best_so_far": b} for n, b in self.syntheses],
                "mae_overall": self.mae,
                "coverage": [
                    {
                        "model_version": c.model_version,
                        "n": c.n,
                        "within_1sigma": c.within_1sigma,
                        "within_2sigma": c.within_2sigma,
                        "n_calibrated": c.n_calibrated,
                        "within_1sigma_calibrated": c.within_1sigma_calibrated,
                        "within_2sigma_calibrated": c.within_2sigma_calibrated,
                        "z": list(c.z),
                    }
                    for c in self.coverage
                ],
                "samples": [
                    {**{k: v for k, v in vars(r).items() if k != "amounts"}, "error": r.error, "z": r.z}
                    for r in self.samples
                ],
                "curve_panels": [
                    {
                        "sample_id": p.sample_id,
                        "model_version": p.model_version,
                        "rate_mA_g": p.rate,
                        "window_V": [p.v_low, p.v_high],
                        "cycle": p.cycle,
                        "measured_capacity": float(p.measured_q[0]),
                        "predicted_capacity": None if p.pred_q is None else float(p.pred_q[0]),
                        "predicted_sigma": None if p.pred_std is None else float(p.pred_std[0]),
                    }
                    for p in self.panels
                ],
                "space": None
                if self.space is None
                else {
                    "n_candidates": self.space.n_space,
                    "n_untested": int(self.space.counts.sum()),
                    "elements": list(self.space.elements),
                    "axes": list(self.space.axes),
                    "groups": {k: len(v) for k, v in self.space.groups.items()},
                },
                "pareto": None
                if self.pareto is None
                else {
                    "objectives": list(self.pareto.names),
                    "units": list(self.pareto.units),
                    "front_sample_ids": [s for s, f in zip(self.pareto.sample_ids, self.pareto.front) if f],
                },
                "lineage": list(self.lineage),
                "inventory": self.inventory,
                "notes": {k: list(v) for k, v in self.notes.items()},
            }
        )


# ---------------------------------------------------------------- collection
def collect(
    session: Session, name: str, *, max_panels: int = MAX_PANELS, map_axes: tuple[str, str] | None = None
) -> ReportData:
    """Read everything the report of campaign ``name`` shows (its latest spec revision's objectives).

    ``name`` may also be a campaign file, whose ``[campaign] name`` is used (nothing is
    registered). ``map_axes``: the composition map's two elements (default :func:`map_axes`).
    Raises :class:`CampaignError` for an unknown campaign or a map axis not in its space.
    """
    camp, spec = _campaign(session, name)
    ids = queries.campaign_ids(session, camp.name)
    notes: dict[str, list[str]] = {k: [] for k in SECTIONS}
    obj = spec.objectives[0]
    rows = _sample_rows(session, ids, spec, notes)
    rounds, syntheses = _progress(rows, notes, obj)
    coverage = _coverage(rows, notes)
    panels = _panels(session, rows, max_panels, notes)
    space = _space(spec, rows, map_axes, notes)
    pareto = _pareto(spec, rows, notes)
    lineage = _lineage(session, camp.name, rows)
    inventory = {
        "campaign": queries.report_inventory(session, ids),
        "store": queries.report_inventory(session),
    }
    if not any(r.suggested for r in rows):
        notes["tables"].append("No suggestions recorded for this campaign yet.")
    if not lineage:
        notes["tables"].append("No model version is registered or used by this campaign.")
    return ReportData(
        campaign=camp.name,
        revisions=tuple(sorted(c.revision for c in queries.campaigns(session) if c.name == camp.name)),
        description=spec.description,
        objective=obj,
        unit=obj.unit,
        samples=tuple(rows),
        rounds=tuple(rounds),
        syntheses=tuple(syntheses),
        coverage=tuple(coverage),
        panels=tuple(panels),
        space=space,
        pareto=pareto,
        lineage=tuple(lineage),
        inventory=inventory,
        notes={k: tuple(v) for k, v in notes.items()},
    )


def _campaign(session: Session, ref: str):
    # a file names its campaign; else a path such as campaigns/he-drx.toml from another folder means he-drx
    name = load_spec(ref).name if Path(ref).is_file() else campaigns.campaign_name(ref)
    return campaigns.registered(session, name, label=ref)


def _sample_rows(
    session: Session, ids: list[int], spec: CampaignSpec, notes: dict[str, list[str]]
) -> list[SampleRow]:
    obj = spec.objectives[0]
    triples = queries.report_samples(session, ids)
    tests: dict[int, dict[int, tuple[ElectrochemTest, dict[int, Profile]]]] = {}
    for test, prof in queries.report_profiles(session, [s.id for s, _, _ in triples]):
        tests.setdefault(test.sample_id, {}).setdefault(test.id, (test, {}))[1][prof.cycle] = prof
    rows = []
    for smp, mat, sug in triples:
        mine = list(tests.get(smp.id, {}).values())
        value, basis, test_id, cycle = measured_value(obj, mine)
        if any(t.id == test_id and t.virtual for t, _ in mine):  # never passed off as a real measurement
            basis = f"{basis}, virtual lab"
        common = {
            "sample_id": smp.id,
            "formula": mat.formula,
            "klass": mat.klass,
            "status": smp.status,
            "round": smp.round or 0,
            "amounts": mat.amounts,
            "measured": value,
            "basis": basis,
            "test_id": test_id,
            "cycle": cycle,
            "failure_reason": (smp.failure_reason or "other") if smp.status == SampleStatus.FAILED else "",
        }
        if sug is None:
            rows.append(SampleRow(suggested=False, **common))
        else:
            rows.append(
                SampleRow(
                    suggested=True,
                    rank=sug.rank,
                    model_version=sug.model_version_id,
                    acquisition=sug.acquisition,
                    predicted=sug.predicted,
                    sigma=sug.predicted_std,
                    objectives=json.loads(sug.objectives_json),
                    domain=sug.domain,
                    calibrated=_calibrated_pair(sug.params_json),
                    **common,
                )
            )
    virtual = [r.sample_id for r in rows if r.basis.endswith("virtual lab")]
    if virtual:
        notes["tables"].append(
            f"Sample(s) {_ids(virtual)} were measured by the virtual lab (`lab seed` / "
            "`lab measure`), not in a real cell: see the basis column."
        )
    fallback = [r.sample_id for r in rows if r.basis.startswith("cycle-1")]
    if fallback:
        note = (
            f"Sample(s) {_ids(fallback)} have no test at {obj.rate:g} mA/g, cycle {obj.cycle}: "
            "their measured "
            f"value is the cycle-1 {obj.kind} of the test at another rate (see the basis column)."
        )
        notes["parity"].append(note)
        notes["progress"].append(note)
    return rows


def measured_value(
    obj: Objective,
    tests: list[tuple[ElectrochemTest, dict[int, Profile]]],
) -> tuple[float | None, str, int | None, int | None]:
    """``(value, basis, test_id, cycle)`` of the primary objective from a sample's tests.

    The first test (lowest id) at the objective's rate with a profile of its cycle gives the
    value ("objective"); otherwise the first test's cycle-1 profile ("cycle-1 fallback").
    Capacity kinds use Q(V_low) (mAh/g), energy the profile energy (mWh/g), retention the ratio
    of the capacities at ``rate`` and ``base_rate`` (no fallback).
    """

    def at(rate: float, cycle: int) -> tuple[ElectrochemTest, Profile] | None:
        for test, profs in tests:
            if abs(test.rate - rate) <= RATE_TOLERANCE and cycle in profs:
                return test, profs[cycle]
        return None

    def value(p: Profile) -> float:
        return float(p.energy if obj.kind == "energy" else p.capacity)

    if obj.kind == "retention":
        hi, lo = at(obj.rate, obj.cycle), at(obj.base_rate, obj.cycle)
        if hi and lo and lo[1].capacity > 0:
            return hi[1].capacity / lo[1].capacity, "objective", hi[0].id, obj.cycle
        return None, "", None, None
    hit = at(obj.rate, obj.cycle)
    if hit:
        return value(hit[1]), "objective", hit[0].id, obj.cycle
    for test, profs in tests:
        if 1 in profs:
            return value(profs[1]), f"cycle-1 fallback ({test.rate:g} mA/g)", test.id, 1
    return None, "", None, None


def _progress(
    rows: list[SampleRow],
    notes: dict[str, list[str]],
    obj: Objective,
) -> tuple[list[RoundSummary], list[tuple[int, float | None]]]:
    out = []
    best = None
    for rnd in sorted({r.round for r in rows}):
        mine = [r for r in rows if r.round == rnd]
        vals = [r.measured for r in mine if r.measured is not None]
        round_best = max(vals) if vals else None
        if round_best is not None:
            best = round_best if best is None else max(best, round_best)
        preds = [r.predicted for r in mine if r.suggested and r.predicted is not None]
        errs = [abs(r.error) for r in mine if r.compared]
        out.append(
            RoundSummary(
                rnd,
                sum(r.suggested for r in mine),
                sum(r.status == SampleStatus.TESTED for r in mine),
                sum(r.status == SampleStatus.FAILED for r in mine),
                round_best,
                best,
                max(preds) if preds else None,
                float(np.mean(errs)) if errs else None,
                len(errs),
            )
        )
    syntheses: list[tuple[int, float | None]] = []
    best = None
    for r in sorted(rows, key=lambda r: (r.round, r.sample_id)):
        if SampleStatus(r.status).made or r.measured is not None:
            if r.measured is not None:
                best = r.measured if best is None else max(best, r.measured)
            syntheses.append((len(syntheses) + 1, best))
    if any(r.round == 0 for r in rows):
        notes["progress"].append(
            "Round 0 holds the campaign's samples that no suggestion round produced "
            "(e.g. imported starting data)."
        )
    if not rows:
        notes["progress"].append(
            "No samples in this campaign yet: nothing suggested, made or measured. "
            "Run `drxlab suggest` to propose the first round."
        )
    elif not any(r.measured is not None for r in rows):
        notes["progress"].append(
            f"No measured {obj.name} yet; the plot shows only the model's predicted best "
            "suggestion of each round."
        )
    return out, syntheses


def _calibrated_pair(params_json: str | None) -> tuple[float, float] | None:
    """The calibrated (mean, σ) recorded in a suggestion's params (rounds since calibration)."""
    pair = json.loads(params_json or "{}").get("calibrated")
    return (float(pair[0]), float(pair[1])) if pair else None


def _coverage(rows: list[SampleRow], notes: dict[str, list[str]]) -> list[Coverage]:
    compared = [r for r in rows if r.compared]
    failed = [r.sample_id for r in rows if r.status == SampleStatus.FAILED]
    waiting = [
        r.sample_id for r in rows if r.suggested and r.measured is None and r.status != SampleStatus.FAILED
    ]
    if failed:
        notes["parity"].append(f"Failed sample(s) {_ids(failed)} have no measurement and are left out.")
    if waiting:
        notes["parity"].append(f"{len(waiting)} suggested sample(s) are not measured yet.")
    if not compared:
        notes["parity"].append(
            "No suggested sample has a measurement yet: nothing to compare with the "
            "predictions made at suggestion time."
        )
        notes["calibration"].append(
            "No suggested sample has a measurement yet: calibration needs measured "
            "values of suggested samples."
        )
        return []
    out = []
    for version in sorted({r.model_version for r in compared}):
        out.append(_cover(version, [r for r in compared if r.model_version == version]))
    out.append(_cover(None, compared))
    return out


def _cover(version: int | None, rows: list[SampleRow]) -> Coverage:
    z = np.array([r.z for r in rows], dtype=float)
    zc = np.array([r.z_calibrated for r in rows if r.z_calibrated is not None], dtype=float)
    return Coverage(
        version,
        len(rows),
        float(np.mean(np.abs(z) <= 1)),
        float(np.mean(np.abs(z) <= 2)),
        tuple(float(x) for x in z),
        len(zc),
        float(np.mean(np.abs(zc) <= 1)) if len(zc) else None,
        float(np.mean(np.abs(zc) <= 2)) if len(zc) else None,
    )


def _panels(
    session: Session, rows: list[SampleRow], max_panels: int, notes: dict[str, list[str]]
) -> list[CurvePanel]:
    chosen = sorted(
        (r for r in rows if r.compared and r.test_id is not None),
        key=lambda r: (r.round, r.rank or 0, r.sample_id),
    )
    if not chosen:
        notes["curves"].append(
            "No tested suggested sample yet: no measured curve to set against its prediction."
        )
        return []
    if len(chosen) > max_panels:
        notes["curves"].append(
            f"Showing the {max_panels} most recent of {len(chosen)} tested suggested samples."
        )
        chosen = chosen[-max_panels:]
    profiles = {}
    for test, prof in queries.report_profiles(session, [r.sample_id for r in chosen]):
        profiles.setdefault(test.id, (test, {}))[1][prof.cycle] = prof
    shown = []
    for r in chosen:
        test, profs = profiles[r.test_id]
        cycle = 1 if 1 in profs else min(profs)
        shown.append((r, test, profs[cycle], cycle))
    preds: dict[int, Any] = {}
    versions = sorted({r.model_version for r, *_ in shown})
    for version in versions:  # each model version is loaded once and predicts all its panels at once
        mine = [(r, t, c) for r, t, _, c in shown if r.model_version == version]
        row = queries.model_version(session, version)
        try:
            ens = models.load(row)
            preds[version] = ens.predict_curves(
                [r.formula for r, _, _ in mine],
                [t.rate for _, t, _ in mine],
                [t.v_low for _, t, _ in mine],
                [t.v_high for _, t, _ in mine],
                [c for _, _, c in mine],
            )
        except DrxlabError as exc:
            notes["curves"].append(f"Model version {version}: no predicted curves ({exc}).")
    out, seen = [], dict.fromkeys(versions, 0)
    for r, test, prof, cycle in shown:
        p, i = preds.get(r.model_version), seen[r.model_version]
        seen[r.model_version] += 1
        out.append(
            CurvePanel(
                r.sample_id,
                r.formula,
                r.round,
                r.model_version,
                test.rate,
                test.v_low,
                test.v_high,
                cycle,
                unpack(prof.voltage),
                unpack(prof.capacity_curve),
                None if p is None else p.voltage[i],
                None if p is None else p.q_mean[i],
                None if p is None else p.q_std[i],
            )
        )
    return out


def map_axes(elements: Sequence[str], amounts: np.ndarray) -> tuple[str, str]:
    """Default composition-map axes: Li and F per formula unit (the DRXNet paper's Li–Mn–O–F map);
    where F does not vary, Li and the element whose amount varies most."""
    spread = {el: float(np.ptp(amounts[:, i])) if len(amounts) else 0.0 for i, el in enumerate(elements)}
    if spread.get("F", 0.0) > 0:
        return "Li", "F"
    rest = [el for el in elements if el not in ("Li", "O")]
    return "Li", max(rest, key=lambda el: spread[el], default="O")


def _space(
    spec: CampaignSpec, rows: list[SampleRow], axes: tuple[str, str] | None, notes: dict[str, list[str]]
) -> SpaceMap | None:
    try:
        chunks = list(iter_candidates(spec))
    except CampaignError as exc:
        notes["space"].append(f"The candidate space cannot be enumerated: {exc}")
        return None
    elements = tuple(chunks[0].elements)
    amounts = np.concatenate([c.amounts for c in chunks])
    axes = axes or map_axes(elements, amounts)
    for el in axes:
        if el not in elements:
            raise CampaignError(
                f"composition-map axis {el!r} is not an element of campaign {spec.name!r}; "
                f"choose from {', '.join(elements)}"
            )
    cols = [elements.index(el) for el in axes]
    taken = {tuple(round(r.amounts.get(el, 0.0), 6) for el in elements) for r in rows}
    untested = np.fromiter(
        (tuple(round(a, 6) for a in row) not in taken for row in amounts.tolist()), bool, len(amounts)
    )
    points, counts = np.unique(np.round(amounts[untested][:, cols], 6), axis=0, return_counts=True)
    at = {r.sample_id: [r.amounts.get(el, 0.0) for el in axes] for r in rows}
    groups_rows = {
        "tested": [r for r in rows if r.measured is not None],
        "failed": [r for r in rows if r.status == SampleStatus.FAILED],
        "suggested": [r for r in rows if r.measured is None and r.status != SampleStatus.FAILED],
    }
    groups = {
        k: np.array([at[r.sample_id] for r in v], dtype=float).reshape(-1, 2) for k, v in groups_rows.items()
    }
    if not rows:
        notes["space"].append("No suggestions yet: the map shows only candidates of the space.")
    reasons = tuple(r.failure_reason for r in groups_rows["failed"])
    return SpaceMap(elements, axes, points.reshape(-1, 2), counts, groups, len(amounts), spec.step, reasons)


def _pareto(spec: CampaignSpec, rows: list[SampleRow], notes: dict[str, list[str]]) -> Pareto | None:
    if len(spec.objectives) < 2:
        notes["space"].append("The campaign has a single objective: no Pareto front to show.")
        return None
    names = tuple(o.name for o in spec.objectives)
    mine = [r for r in rows if r.suggested and all(n in r.objectives for n in names)]
    if not mine:
        notes["space"].append("No suggestion records every objective yet: no Pareto front to show.")
        return None
    pts = np.array([[r.objectives[n][0] for n in names] for r in mine], dtype=float)
    return Pareto(
        names,
        tuple(o.unit for o in spec.objectives),
        tuple(r.sample_id for r in mine),
        tuple(r.round for r in mine),
        pts,
        non_dominated(pts),
    )


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``n x m`` ``points`` no other row dominates (every objective maximised);
    equal rows all stay on the front (each is a measured sample)."""
    import torch  # only a report with a Pareto front pays for it
    from botorch.utils.multi_objective.pareto import is_non_dominated

    return is_non_dominated(torch.as_tensor(points, dtype=torch.float64), deduplicate=False).numpy()


def _lineage(session: Session, name: str, rows: list[SampleRow]) -> list[dict[str, Any]]:
    used = {r.model_version for r in rows if r.suggested}
    current = queries.current_model(session, name)
    ids = used | ({current.id} if current else set())
    out = []
    for v in queries.report_model_versions(session, sorted(ids)):
        mine = [r for r in rows if r.suggested and r.model_version == v.id]
        out.append(
            {
                "id": v.id,
                "sha256": v.sha256[:12],
                "source": v.source,
                "parent": v.parent_id,
                "members": v.n_members,
                "created": v.created_at.isoformat()[:19],
                "metrics": models.metrics_of(v),
                "rounds": sorted({r.round for r in mine}),
                "suggestions": len(mine),
                "current": bool(current and current.id == v.id),
            }
        )
    return out


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids[:10]) + (f" … ({len(ids)} in all)" if len(ids) > 10 else "")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj
