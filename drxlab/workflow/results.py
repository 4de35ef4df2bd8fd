"""Logging results of samples: a measured test (moves the sample to tested) or a failure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from drxlab.candidates.spec import parse_spec
from drxlab.chem import compositions
from drxlab.exceptions import (
    CampaignError,
    ImportFileError,
    SampleClosedError,
    SampleError,
    SampleNotFoundError,
    SampleStateError,
    SuspectDataError,
)
from drxlab.profiles import plausibility
from drxlab.profiles.importers import CyclerOptions, ParsedTest, read_file
from drxlab.profiles.records import TestRecord
from drxlab.store import queries
from drxlab.store.tables import Campaign, Sample
from drxlab.vocabulary import FailureReason, SampleStatus
from drxlab.workflow import campaigns
from drxlab.workflow.ingest import material, write_test
from drxlab.workflow.metrics import VersionSummary
from drxlab.workflow.pending import Ages

RATE_TOLERANCE = 0.1  # relative difference between a logged rate and the planned one
WINDOW_TOLERANCE = 0.05  # V between a logged window and the planned one
# V a discharge may start below the planned upper cut-off: the IR drop when the current reverses
# (the authors' LMTO cycle 1 starts at 4.74 V for a 4.8 V cut-off)
IR_DROP_TOLERANCE = 0.15
FORCE_VALUE = {"option": "force", "option_use": "if the value is right"}


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
        raise SampleNotFoundError(
            f"sample {sample_id} not found; see `drxlab status` for samples waiting for results"
        )
    return smp


def _retire_tests(session: Session, smp: Sample) -> None:
    """Move a sample's earlier tests to a 'replaced' sample of the same material (history kept)."""
    old = queries.add_sample(
        session,
        smp.material_id,
        campaign_id=smp.campaign_id,
        status=SampleStatus.REPLACED,
        round=smp.round,
        notes=f"earlier results of sample {smp.id}, replaced by a new log",
    )
    for t in queries.tests_of_sample(session, smp.id):
        t.sample_id = old.id
        session.add(t)
    session.flush()


@dataclass(frozen=True)
class PendingLog:
    """A result read and checked against the store but not yet written (see :func:`write_pending`).

    ``seen_status`` is the sample's state when it was checked: the write refuses a sample that
    has changed since, so a long step between the two (a fine-tune) cannot log onto stale state.
    """

    sample_id: int | None  # None: a new, unsuggested sample of ``campaign``
    seen_status: str | None
    formula: str
    replace: bool = False
    path: Path | None = None
    test: ParsedTest | None = None  # None: a failure
    sha256: str = ""
    file_format: str = ""
    campaign: str | None = None
    reason: str = ""
    failure: tuple[FailureReason, str] | None = None  # the reason's code and the whole text
    force: bool = False
    where: str = ""  # e.g. a batch sheet's row, for messages

    def record(self, test_id: int) -> TestRecord:
        """The test as :func:`drxlab.store.queries.test_records` will read it back once written
        (``test_id`` a stand-in until then)."""
        t = self.test
        profiles = {
            pp.cycle: tuple(
                np.asarray(a, dtype=np.float64)
                for a in (pp.profile.voltage, pp.profile.capacity_curve, pp.profile.dqdv)
            )
            for pp in sorted(t.profiles, key=lambda pp: pp.cycle)
        }
        klass = compositions.composition_class(t.amounts)
        return TestRecord(
            t.formula,
            t.rate,
            t.v_low,
            t.v_high,
            profiles,
            test_id=test_id,
            sample_id=self.sample_id,
            klass=klass,
        )


def prepare_test(
    session: Session,
    path: Path,
    *,
    sample_id: int | None = None,
    composition: str | None = None,
    campaign: str | None = None,
    fmt: str = "auto",
    cycler: CyclerOptions = CyclerOptions(),
    replace: bool = False,
    allow_unbalanced: bool = False,
    force: bool = False,
) -> PendingLog:
    """Read a measured file for a sample (or a new, unsuggested one) and check it; writes nothing.

    Refused unless ``force``: a file already stored (same sha256) and implausible values
    (:mod:`drxlab.profiles.plausibility`).
    """
    if sample_id is None and not (composition and campaign):
        raise SampleError("which sample? Give its id, or the composition and campaign of one not suggested")
    smp = _sample(session, sample_id) if sample_id is not None else None
    if smp is not None:
        _check_open(smp, replace)
        formula = queries.material(session, smp.material_id).formula
    else:
        formula = compositions.normalise(composition)
    # a mass in mg typed as g also wrecks the rate read from the file: say so before reading it
    if not force and (why := plausibility.mass_problem(cycler.active_mass)) is not None:
        raise SuspectDataError(f"{path}: {why}; nothing logged", **FORCE_VALUE)
    opts = CyclerOptions(
        composition=cycler.composition or formula,
        active_mass=cycler.active_mass,
        rate=cycler.rate,
        window=cycler.window,
        instrument=cycler.instrument,
        keep_initial=cycler.keep_initial,
    )
    pf = read_file(path, fmt, allow_unbalanced=allow_unbalanced, cycler=opts)
    if len(pf.tests) != 1:
        raise ImportFileError(
            f"{path}: holds {len(pf.tests)} tests; a log needs exactly one test of one sample"
        )
    test = pf.tests[0]
    if not force:
        _refuse_duplicate(session, path, pf.sha256, smp, replace)
        for problem in plausibility.problems(test):
            raise SuspectDataError(f"{path}: {problem}; nothing logged", **FORCE_VALUE)
    if test.formula != formula:
        raise ImportFileError(f"{path}: composition {test.formula} does not match sample's {formula}")
    if 1 not in {p.cycle for p in test.profiles}:
        raise ImportFileError(
            f"{path}: has cycles {[p.cycle for p in test.profiles]} but no cycle 1; "
            "a first-cycle log needs the first discharge"
        )
    if smp is not None:
        plan = planned_conditions(session, smp)
        if plan is not None:
            test = _match_plan(path, test, smp.id, plan)
    return PendingLog(
        smp.id if smp is not None else None,
        smp.status if smp is not None else None,
        formula,
        replace,
        path,
        test,
        pf.sha256,
        pf.format,
        campaign if smp is None else None,
        force=force,
    )


def prepare_failed(session: Session, sample_id: int, reason: str, replace: bool = False) -> PendingLog:
    """Check a failed synthesis or cell against the store; writes nothing."""
    if not reason.strip():
        raise SampleError(
            "a failure needs its reason (e.g. 'impurity phase in XRD')", option="reason", option_use="REASON"
        )
    try:
        code, detail = FailureReason.parse(reason)
    except ValueError as exc:
        raise SampleError(f"reason: {exc}") from None
    smp = _sample(session, sample_id)
    tests = queries.tests_of_sample(session, smp.id)
    if tests and not replace:
        raise SampleStateError(
            f"sample {smp.id} already has {len(tests)} test(s) (test {tests[0].id}): a synthesis that made "
            "a measured cell did not fail; nothing written",
            option="replace",
            option_use="to retract its tests and mark it failed",
        )
    _check_open(smp, replace)
    formula = queries.material(session, smp.material_id).formula
    return PendingLog(smp.id, smp.status, formula, replace, reason=reason, failure=(code, detail))


def _check_open(smp: Sample, replace: bool) -> None:
    if SampleStatus(smp.status).closed and not replace:
        raise SampleClosedError(smp.id, smp.status)


def write_pending(session: Session, pending: PendingLog) -> Logged:
    """Write a checked result; refuse (nothing written) if the sample or the store changed since."""
    if pending.sample_id is not None:
        smp = _sample(session, pending.sample_id)
        if smp.status != pending.seen_status:
            raise SampleStateError(
                f"sample {smp.id} changed from {pending.seen_status} to {smp.status} while its result "
                "was being prepared; nothing written — run it again"
            )
    else:
        smp = None
    test = pending.test
    if test is not None and not pending.force:
        _refuse_duplicate(session, pending.path, pending.sha256, smp, pending.replace)
    if smp is not None and pending.replace:
        _retire_tests(session, smp)
    if test is None:
        queries.mark_failed(session, smp, *pending.failure)
        return _logged(session, smp, None, None)
    if smp is None:
        camp = campaigns.ensure(session, pending.campaign)
        mat = material(session, test.formula, test.amounts, test.oxidation_states)
        smp = queries.add_sample(session, mat.id, campaign_id=camp.id, status=SampleStatus.SYNTHESIZED)
    if queries.source_known(session, pending.sha256) is None:
        queries.add_source(session, pending.sha256, pending.path.name, pending.file_format)
    t = write_test(session, test, sample=smp, source_name=pending.path.name, sha256=pending.sha256)
    queries.set_sample_status(session, smp, SampleStatus.TESTED)
    return _logged(session, smp, t.id, next(p.profile.capacity for p in test.profiles if p.cycle == 1))


def log_test(session: Session, path: Path, **kwargs) -> Logged:
    """Attach a measured file to a sample and mark it tested, in the caller's transaction
    (:func:`prepare_test` then :func:`write_pending`)."""
    return write_pending(session, prepare_test(session, path, **kwargs))


def _refuse_duplicate(session: Session, path: Path, sha256: str, smp: Sample | None, replace: bool) -> None:
    """A file whose bytes are already stored is almost always the wrong file picked twice; only
    replacing the same sample's own results (e.g. with a corrected mass) may reuse it."""
    known = queries.source_known(session, sha256)
    earlier = queries.tests_with_source(session, sha256)
    if known is None and not earlier:
        return
    if replace and smp is not None and earlier and all(sample.id == smp.id for _, sample, _ in earlier):
        return
    where = []
    for test, sample, mat in earlier[:3]:
        same = smp is not None and sample.id == smp.id
        where.append(f"test {test.id} of {'this' if same else 'another'} sample {sample.id} ({mat.formula})")
    name = known.name if known else earlier[0][0].source_file
    raise SuspectDataError(
        f"{path}: the same file (sha256 {sha256[:12]}, first stored as {name}) is already in the store"
        + (f" as {', '.join(where)}" if where else "")
        + "; a copy of the wrong cell's file? Nothing logged",
        option="force",
        option_use="if it really is this sample's data",
    )


def _match_plan(
    path: Path, test: ParsedTest, sample_id: int, plan: tuple[float, tuple[float, float]]
) -> ParsedTest:
    """The test with the planned conditions when the file agrees with them (within the tolerances,
    the upper cut-off allowing for the IR drop), else an error saying what the file shows."""
    rate, (lo, hi) = plan
    ok = (
        abs(test.rate - rate) <= RATE_TOLERANCE * rate
        and abs(test.v_low - lo) <= WINDOW_TOLERANCE
        and hi - IR_DROP_TOLERANCE - 1e-9 <= test.v_high <= hi + WINDOW_TOLERANCE
    )
    if ok:
        # the protocol's cut-offs, not the rounded voltages the data happened to reach
        return dataclasses.replace(
            test,
            rate=rate if not test.extra.get("rate_given") else test.rate,
            v_low=lo if not test.extra.get("window_given") else test.v_low,
            v_high=hi if not test.extra.get("window_given") else test.v_high,
        )
    shows = test.extra.get("file_shows")
    if shows:
        charge = (
            f"charge up to {shows['charge_max_V']:.3f} V"
            if shows["charge_max_V"] is not None
            else "no charge step"
        )
        seen = (
            f"the file shows {charge}, discharge from {shows['discharge_start_V']:.3f} V down to "
            f"{shows['discharge_min_V']:.3f} V at {shows['rate_mA_g']:g} mA/g (median discharge current)"
        )
    else:
        seen = f"the file says {test.rate:g} mA/g, {test.v_low:g}–{test.v_high:g} V"
    raise ImportFileError(
        f"{path}: {seen}, but sample {sample_id} was planned at {rate:g} mA/g, {lo:g}–{hi:g} V "
        f"(accepted: rate ±{RATE_TOLERANCE:.0%}, lower cut-off ±{WINDOW_TOLERANCE:g} V, upper cut-off "
        f"−{IR_DROP_TOLERANCE:g}/+{WINDOW_TOLERANCE:g} V); check the file and the active mass, or give the "
        "conditions explicitly",
        option=("rate", "window"),
        option_use="to give the test's rate and window",
    )


def log_failed(session: Session, sample_id: int, reason: str, replace: bool = False) -> Logged:
    """Record a failed synthesis or cell: failures are data too (the feasibility model learns them)."""
    return write_pending(session, prepare_failed(session, sample_id, reason, replace))


def _logged(session: Session, smp: Sample, test_id: int | None, measured: float | None) -> Logged:
    sug = queries.suggestion_of_sample(session, smp.id)
    formula = queries.material(session, smp.material_id).formula
    return Logged(
        smp.id,
        formula,
        test_id,
        smp.status,
        measured,
        sug.predicted if sug else None,
        sug.predicted_std if sug else None,
        sug.model_version_id if sug else None,
    )


def model_scope(session: Session, sample_id: int) -> str:
    """Which current model a sample's results update: its campaign's own, else the lab-wide one."""
    smp = queries.sample(session, sample_id)
    camp = session.get(Campaign, smp.campaign_id) if smp and smp.campaign_id else None
    return camp.name if camp and camp.name in queries.current_scopes(session) else ""


@dataclass(frozen=True)
class Waiting:
    """A sample waiting for its result, with the prediction made when it was suggested."""

    sample_id: int
    formula: str
    status: str
    round: int | None
    predicted: float | None  # cycle-1 capacity, mAh/g
    sigma: float | None  # raw ensemble σ_Q, mAh/g
    sigma_calibrated: float | None  # calibrated σ when it was suggested, mAh/g
    age_days: float  # since it was suggested (or logged as made)
    max_pending_days: float  # its campaign's limit
    overdue: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "formula": self.formula,
            "status": self.status,
            "round": self.round,
            "predicted_mAh_g": self.predicted,
            "sigma_mAh_g": self.sigma,
            "sigma_calibrated_mAh_g": self.sigma_calibrated,
            "age_days": self.age_days,
            "max_pending_days": self.max_pending_days,
            "overdue": self.overdue,
        }


@dataclass(frozen=True)
class LabStatus:
    """Samples by state, what waits for results, and the current model with its lineage."""

    campaign: str | None
    samples: dict[str, int]  # status -> count
    waiting: tuple[Waiting, ...]
    lineage: tuple[VersionSummary, ...]  # current version first
    tests: int  # measured
    virtual_tests: int
    calibration: str | None = None  # the current version's calibration, in words

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "samples": dict(self.samples),
            "waiting": [w.as_dict() for w in self.waiting],
            "model": [v.as_dict() for v in self.lineage],
            "tests": self.tests,
            "virtual_tests": self.virtual_tests,
            "calibration": self.calibration,
        }


def status(session: Session, campaign: str | None = None) -> LabStatus:
    """Samples by state, what waits for results, current model and its lineage."""
    from drxlab.workflow import calibrate

    ids = queries.campaign_ids(session, campaign) if campaign else None
    if campaign and not ids:
        raise CampaignError(f"campaign {campaign!r} not found; see `drxlab campaign list`")
    rows = queries.samples_of_campaign(session, ids) if ids is not None else queries.all_samples(session)
    counts = {s.value: 0 for s in SampleStatus}
    waiting = []
    ages = Ages(session)
    for smp, mat in rows:
        counts[smp.status] = counts.get(smp.status, 0) + 1
        if SampleStatus(smp.status).pending:
            sug = queries.suggestion_of_sample(session, smp.id)
            waiting.append(
                Waiting(
                    smp.id,
                    mat.formula,
                    smp.status,
                    smp.round,
                    sug.predicted if sug else None,
                    sug.predicted_std if sug else None,
                    calibrate.of_suggestion(sug.params_json) if sug else None,
                    **ages.of(smp),
                )
            )
    from drxlab.workflow import models

    current = queries.current_model(session, campaign or "")
    lineage = [VersionSummary.of(v) for v in models.lineage(session, current)] if current else []
    tests = (
        queries.test_rows(session) if ids is None else [t for i in ids for t in queries.test_rows(session, i)]
    )
    n_virtual = sum(1 for t in tests if t["virtual"])
    return LabStatus(
        campaign,
        counts,
        tuple(waiting),
        tuple(lineage),
        len(tests) - n_virtual,
        n_virtual,
        calibrate.describe(current, campaign),
    )


__all__ = [
    "LabStatus",
    "Logged",
    "PendingLog",
    "Waiting",
    "log_failed",
    "log_test",
    "planned_conditions",
    "prepare_failed",
    "prepare_test",
    "status",
    "write_pending",
]
