"""Logging results of samples: a measured test (moves the sample to tested) or a failure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from drxlab.candidates.spec import parse_spec
from drxlab.chem import compositions
from drxlab.exceptions import DrxlabError, ImportFileError, SampleNotFoundError, SampleStateError
from drxlab.profiles import plausibility
from drxlab.profiles.importers import CyclerOptions, ParsedTest, read_file
from drxlab.store import queries
from drxlab.store.tables import Campaign, Sample
from drxlab.vocabulary import FailureReason, SampleStatus
from drxlab.workflow import campaigns
from drxlab.workflow.ingest import material, write_test
from drxlab.workflow.pending import Ages

RATE_TOLERANCE = 0.1  # relative difference between a logged rate and the planned one
WINDOW_TOLERANCE = 0.05  # V between a logged window and the planned one
# V a discharge may start below the planned upper cut-off: the IR drop when the current reverses
# (the authors' LMTO cycle 1 starts at 4.74 V for a 4.8 V cut-off)
IR_DROP_TOLERANCE = 0.15


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


def log_test(
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
) -> Logged:
    """Attach a measured file to a sample (or to a new, unsuggested sample) and mark it tested.

    Refused unless ``force``: a file already stored (same sha256) and implausible values
    (:mod:`drxlab.profiles.plausibility`).
    """
    if sample_id is None and not (composition and campaign):
        raise DrxlabError(
            "give --sample ID, or --composition and --campaign for a sample that was not suggested"
        )
    smp = _sample(session, sample_id) if sample_id is not None else None
    if smp is not None:
        if SampleStatus(smp.status).closed and not replace:
            raise SampleStateError(
                f"sample {smp.id} is already {smp.status}; pass --replace to log new results "
                "(the earlier ones are kept as history)"
            )
        formula = queries.material(session, smp.material_id).formula
    else:
        formula = compositions.normalise(composition)
    # a mass in mg typed as g also wrecks the rate read from the file: say so before reading it
    if not force and (why := plausibility.mass_problem(cycler.active_mass)) is not None:
        raise ImportFileError(f"{path}: {why}; nothing logged (pass --force if the value is right)")
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
            raise ImportFileError(f"{path}: {problem}; nothing logged (pass --force if the value is right)")
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
        if replace:
            _retire_tests(session, smp)
    else:
        camp = campaigns.ensure(session, campaign)
        mat = material(session, test.formula, test.amounts, test.oxidation_states)
        smp = queries.add_sample(session, mat.id, campaign_id=camp.id, status=SampleStatus.SYNTHESIZED)
    if queries.source_known(session, pf.sha256) is None:
        queries.add_source(session, pf.sha256, path.name, pf.format)
    t = write_test(session, test, sample=smp, source_name=path.name, sha256=pf.sha256)
    queries.set_sample_status(session, smp, SampleStatus.TESTED)
    return _logged(session, smp, t.id, next(p.profile.capacity for p in test.profiles if p.cycle == 1))


def _refuse_duplicate(session: Session, path: Path, sha256: str, smp: Sample | None, replace: bool) -> None:
    """A file whose bytes are already stored is almost always the wrong file picked twice; only
    ``--replace`` of the same sample's own results (e.g. with a corrected mass) may reuse it."""
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
    raise ImportFileError(
        f"{path}: the same file (sha256 {sha256[:12]}, first stored as {name}) is already in the store"
        + (f" as {', '.join(where)}" if where else "")
        + "; a copy of the wrong cell's file? Nothing logged (pass --force if it really is this "
        "sample's data)"
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
        "conditions with --rate / --window"
    )


def log_failed(session: Session, sample_id: int, reason: str, replace: bool = False) -> Logged:
    """Record a failed synthesis or cell: failures are data too (the feasibility model learns them).

    ``reason`` starts with a :class:`~drxlab.vocabulary.FailureReason` (``"impurity_phase: spinel
    in XRD"`` or ``"impurity phase in XRD"``); the whole text is kept beside it.
    """
    if not reason.strip():
        raise DrxlabError("--reason is required with --failed (e.g. 'impurity phase in XRD')")
    try:
        code, detail = FailureReason.parse(reason)
    except ValueError as exc:
        raise DrxlabError(f"--reason: {exc}") from None
    smp = _sample(session, sample_id)
    tests = queries.tests_of_sample(session, smp.id)
    if tests and not replace:
        raise SampleStateError(
            f"sample {smp.id} already has {len(tests)} test(s) (test {tests[0].id}): a synthesis that made "
            "a measured cell did not fail; nothing written. Pass --replace to retract its tests and mark it "
            "failed"
        )
    if SampleStatus(smp.status).closed and not replace:
        raise SampleStateError(f"sample {smp.id} is already {smp.status}; pass --replace to change it")
    if replace:
        _retire_tests(session, smp)
    queries.mark_failed(session, smp, code, detail)
    return _logged(session, smp, None, None)


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


def status(session: Session, campaign: str | None = None) -> dict:
    """Samples by state, what waits for results, current model and its lineage."""
    from drxlab.workflow import calibrate

    ids = queries.campaign_ids(session, campaign) if campaign else None
    if campaign and not ids:
        raise DrxlabError(f"campaign {campaign!r} not found; see `drxlab campaign list`")
    rows = queries.samples_of_campaign(session, ids) if ids is not None else queries.all_samples(session)
    counts = {s.value: 0 for s in SampleStatus}
    waiting = []
    ages = Ages(session)
    for smp, mat in rows:
        counts[smp.status] = counts.get(smp.status, 0) + 1
        if SampleStatus(smp.status).pending:
            sug = queries.suggestion_of_sample(session, smp.id)
            waiting.append(
                {
                    "sample_id": smp.id,
                    "formula": mat.formula,
                    "status": smp.status,
                    "round": smp.round,
                    "predicted_mAh_g": sug.predicted if sug else None,
                    "sigma_mAh_g": sug.predicted_std if sug else None,
                    "sigma_calibrated_mAh_g": calibrate.of_suggestion(sug.params_json) if sug else None,
                    **ages.of(smp),
                }
            )
    from drxlab.workflow import models

    current = queries.current_model(session, campaign or "")
    lineage = [models.describe(v) for v in models.lineage(session, current)] if current else []
    for v in lineage:
        v.pop("training", None)
    tests = (
        queries.test_rows(session) if ids is None else [t for i in ids for t in queries.test_rows(session, i)]
    )
    n_virtual = sum(1 for t in tests if t["virtual"])
    return {
        "campaign": campaign,
        "samples": counts,
        "waiting": waiting,
        "model": lineage,
        "tests": len(tests) - n_virtual,
        "virtual_tests": n_virtual,
        "calibration": calibrate.describe(current, campaign),
    }


__all__ = ["Logged", "log_test", "log_failed", "status", "planned_conditions"]
