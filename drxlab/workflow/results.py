"""Logging results of samples: a measured test (moves the sample to tested) or a failure."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from drxlab.candidates.spec import parse_spec
from drxlab.chem import compositions
from drxlab.exceptions import DrxlabError, ImportFileError
from drxlab.profiles.importers import CyclerOptions, read_file
from drxlab.store import queries
from drxlab.store.tables import Campaign, Sample
from drxlab.workflow import campaigns
from drxlab.workflow.ingest import material, write_test

RATE_TOLERANCE = 0.1  # relative difference between a logged rate and the planned one
WINDOW_TOLERANCE = 0.05  # V between a logged window and the planned one
STATUSES = ("proposed", "synthesized", "tested", "failed", "replaced")


@dataclass(frozen=True)
class Logged:
    """What `drxlab log` recorded for a sample."""

    sample_id: int
    formula: str
    test_id: int | None
    status: str
    measured: float | None  # cycle-1 capacity, mAh/g
    predicted: float | None  # prediction when suggested, mAh/g
    sigma: float | None
    model_version: int | None

    @property
    def z(self) -> float | None:
        if self.measured is None or self.predicted is None or not self.sigma:
            return None
        return (self.measured - self.predicted) / self.sigma


def planned_conditions(session: Session, sample: Sample) -> tuple[float, tuple[float, float]] | None:
    """(rate mA/g, window V) the sample was planned for: its campaign's primary objective."""
    if sample.campaign_id is None:
        return None
    camp = session.get(Campaign, sample.campaign_id)
    if not camp or not camp.spec_text:
        return None
    obj = parse_spec(camp.spec_text, source=f"campaign {camp.name}").objectives[0]
    return obj.rate, obj.window


def _sample(session: Session, sample_id: int) -> Sample:
    smp = queries.sample(session, sample_id)
    if smp is None:
        raise DrxlabError(f"sample {sample_id} not found; see `drxlab status` for samples waiting for results")
    return smp


def _retire_tests(session: Session, smp: Sample) -> None:
    """Move a sample's earlier tests to a 'replaced' sample of the same material (history kept)."""
    old = queries.add_sample(session, smp.material_id, campaign_id=smp.campaign_id, status="replaced",
                             round=smp.round, notes=f"earlier results of sample {smp.id}, replaced by a new log")
    for t in queries.tests_of_sample(session, smp.id):
        t.sample_id = old.id
        session.add(t)
    session.flush()


def log_test(session: Session, path: Path, *, sample_id: int | None = None, composition: str | None = None,
             campaign: str | None = None, fmt: str = "auto", cycler: CyclerOptions = CyclerOptions(),
             replace: bool = False, allow_unbalanced: bool = False) -> Logged:
    """Attach a measured file to a sample (or to a new, unsuggested sample) and mark it tested."""
    if sample_id is None and not (composition and campaign):
        raise DrxlabError("give --sample ID, or --composition and --campaign for a sample that was not suggested")
    smp = _sample(session, sample_id) if sample_id is not None else None
    if smp is not None:
        if smp.status in ("tested", "failed") and not replace:
            raise DrxlabError(f"sample {smp.id} is already {smp.status}; pass --replace to log new results "
                              "(the earlier ones are kept as history)")
        formula = queries.material(session, smp.material_id).formula
    else:
        formula = compositions.normalise(composition)
    opts = CyclerOptions(composition=cycler.composition or formula, active_mass=cycler.active_mass, rate=cycler.rate,
                         window=cycler.window, instrument=cycler.instrument)
    pf = read_file(path, fmt, allow_unbalanced=allow_unbalanced, cycler=opts)
    if len(pf.tests) != 1:
        raise ImportFileError(f"{path}: holds {len(pf.tests)} tests; a log needs exactly one test of one sample")
    test = pf.tests[0]
    if test.formula != formula:
        raise ImportFileError(f"{path}: composition {test.formula} does not match sample's {formula}")
    if 1 not in {p.cycle for p in test.profiles}:
        raise ImportFileError(f"{path}: has cycles {[p.cycle for p in test.profiles]} but no cycle 1; "
                              "a first-cycle log needs the first discharge")
    if smp is not None:
        plan = planned_conditions(session, smp)
        if plan is not None:
            rate, (lo, hi) = plan
            if abs(test.rate - rate) > RATE_TOLERANCE * rate or abs(test.v_low - lo) > WINDOW_TOLERANCE \
                    or abs(test.v_high - hi) > WINDOW_TOLERANCE:
                raise ImportFileError(
                    f"{path}: measured at {test.rate:g} mA/g, {test.v_low:g}–{test.v_high:g} V but sample {smp.id} "
                    f"was planned at {rate:g} mA/g, {lo:g}–{hi:g} V; check the file (or --rate/--window for a "
                    "cycler file)")
        if replace:
            _retire_tests(session, smp)
    else:
        camp = campaigns.ensure(session, campaign)
        mat = material(session, test.formula, test.amounts, test.oxidation_states)
        smp = queries.add_sample(session, mat.id, campaign_id=camp.id, status="synthesized")
    if queries.source_known(session, pf.sha256) is None:
        queries.add_source(session, pf.sha256, path.name, pf.format)
    t = write_test(session, test, sample=smp, source_name=path.name, sha256=pf.sha256)
    queries.set_sample_status(session, smp, "tested")
    return _logged(session, smp, t.id, next(p.profile.capacity for p in test.profiles if p.cycle == 1))


def log_failed(session: Session, sample_id: int, reason: str, replace: bool = False) -> Logged:
    """Record a failed synthesis or cell: failures are data too."""
    if not reason.strip():
        raise DrxlabError("--reason is required with --failed (e.g. 'impurity phase in XRD')")
    smp = _sample(session, sample_id)
    if smp.status in ("tested", "failed") and not replace:
        raise DrxlabError(f"sample {smp.id} is already {smp.status}; pass --replace to change it")
    if replace:
        _retire_tests(session, smp)
    queries.set_sample_status(session, smp, "failed", f"failed: {reason}")
    return _logged(session, smp, None, None)


def _logged(session: Session, smp: Sample, test_id: int | None, measured: float | None) -> Logged:
    sug = queries.suggestion_of_sample(session, smp.id)
    formula = queries.material(session, smp.material_id).formula
    return Logged(smp.id, formula, test_id, smp.status, measured, sug.predicted if sug else None,
                  sug.predicted_std if sug else None, sug.model_version_id if sug else None)


def model_scope(session: Session, sample_id: int) -> str:
    """Which current model a sample's results update: its campaign's own, else the lab-wide one."""
    smp = queries.sample(session, sample_id)
    camp = session.get(Campaign, smp.campaign_id) if smp and smp.campaign_id else None
    return camp.name if camp and camp.name in queries.current_scopes(session) else ""


def status(session: Session, campaign: str | None = None) -> dict:
    """Samples by state, what waits for results, current model and its lineage."""
    ids = queries.campaign_ids(session, campaign) if campaign else None
    if campaign and not ids:
        raise DrxlabError(f"campaign {campaign!r} not found; see `drxlab campaign list`")
    rows = queries.samples_of_campaign(session, ids) if ids is not None else queries.all_samples(session)
    counts = {s: 0 for s in STATUSES}
    waiting = []
    for smp, mat in rows:
        counts[smp.status] = counts.get(smp.status, 0) + 1
        if smp.status in ("proposed", "synthesized"):
            sug = queries.suggestion_of_sample(session, smp.id)
            waiting.append({"sample_id": smp.id, "formula": mat.formula, "status": smp.status, "round": smp.round,
                            "predicted_mAh_g": sug.predicted if sug else None,
                            "sigma_mAh_g": sug.predicted_std if sug else None})
    from drxlab.workflow import models

    current = queries.current_model(session, campaign or "")
    lineage = [models.describe(v) for v in models.lineage(session, current)] if current else []
    for v in lineage:
        v.pop("training", None)
    tests = queries.test_rows(session) if ids is None else [t for i in ids for t in queries.test_rows(session, i)]
    n_virtual = sum(1 for t in tests if t["virtual"])
    return {"campaign": campaign, "samples": counts, "waiting": waiting, "model": lineage,
            "tests": len(tests) - n_virtual, "virtual_tests": n_virtual}


__all__ = ["Logged", "log_test", "log_failed", "status", "planned_conditions"]
