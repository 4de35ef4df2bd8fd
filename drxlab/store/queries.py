"""Every read and write of the experiment store goes through these functions.

They take an open :class:`sqlmodel.Session` (the caller owns the transaction) and return
table rows or plain records; nothing else in drxlab writes SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlalchemy import func
from sqlmodel import Session, select

from drxlab.profiles.records import TestRecord
from drxlab.store.tables import (
    Campaign,
    CurrentModel,
    ElectrochemTest,
    Material,
    ModelVersion,
    Profile,
    Sample,
    SourceFile,
    Suggestion,
    dumps,
    pack,
    unpack,
    utcnow,
)
from drxlab.vocabulary import SampleStatus


# ---------------------------------------------------------------- materials, samples, tests
def material_for(
    session: Session, formula: str, amounts: dict, states: dict, n_metals: int, klass: str
) -> Material:
    """The material row of a normalised formula, created on first use."""
    row = session.exec(select(Material).where(Material.formula == formula)).first()
    if row is None:
        row = Material(
            formula=formula,
            amounts_json=dumps(amounts),
            oxidation_json=dumps(states),
            n_metals=n_metals,
            klass=klass,
        )
        session.add(row)
        session.flush()
    return row


def source_known(session: Session, sha256: str) -> SourceFile | None:
    """The earlier import of a file with this content hash, if any."""
    return session.exec(select(SourceFile).where(SourceFile.sha256 == sha256)).first()


def tests_with_source(session: Session, sha256: str) -> list[tuple[ElectrochemTest, Sample, Material]]:
    """Tests stored from a file with this content hash, with their sample and material."""
    q = (
        select(ElectrochemTest, Sample, Material)
        .join(Sample, ElectrochemTest.sample_id == Sample.id)
        .join(Material, Sample.material_id == Material.id)
        .where(ElectrochemTest.source_sha256 == sha256)
        .order_by(ElectrochemTest.id)
    )
    return list(session.exec(q).all())


def add_source(session: Session, sha256: str, name: str, fmt: str) -> SourceFile:
    row = SourceFile(sha256=sha256, name=name, format=fmt)
    session.add(row)
    session.flush()
    return row


def add_sample(
    session: Session,
    material_id: int,
    *,
    campaign_id: int | None = None,
    status: str = SampleStatus.TESTED,
    round: int | None = None,
    notes: str = "",
) -> Sample:
    row = Sample(material_id=material_id, campaign_id=campaign_id, status=status, round=round, notes=notes)
    session.add(row)
    session.flush()
    return row


def set_sample_status(session: Session, sample: Sample, status: str, notes: str | None = None) -> None:
    sample.status = status
    sample.updated_at = utcnow()
    if notes:
        sample.notes = (sample.notes + "\n" if sample.notes else "") + notes
    session.add(sample)


def mark_failed(session: Session, sample: Sample, reason: str, detail: str) -> None:
    """Sample → failed, with its reason (a ``FailureReason`` value) and the free text beside it."""
    sample.failure_reason = reason
    sample.failure_detail = detail
    note = f"failed: {reason}" + (f" ({detail})" if detail else "")
    set_sample_status(session, sample, SampleStatus.FAILED, note)


def add_test(
    session: Session,
    sample_id: int,
    *,
    rate: float,
    v_low: float,
    v_high: float,
    profiles: Iterable,
    active_mass: float | None = None,
    electrode_mass: float | None = None,
    source_file: str = "",
    source_sha256: str = "",
    instrument: str = "",
    virtual: bool = False,
) -> ElectrochemTest:
    """A test with its profiles (objects with ``cycle``, ``profile`` and optional raw arrays)."""
    test = ElectrochemTest(
        sample_id=sample_id,
        rate=rate,
        v_low=v_low,
        v_high=v_high,
        active_mass=active_mass,
        electrode_mass=electrode_mass,
        source_file=source_file,
        source_sha256=source_sha256,
        instrument=instrument,
        virtual=virtual,
    )
    session.add(test)
    session.flush()
    for pp in profiles:
        p = pp.profile
        session.add(
            Profile(
                test_id=test.id,
                cycle=pp.cycle,
                voltage=pack(p.voltage),
                capacity_curve=pack(p.capacity_curve),
                dqdv=pack(p.dqdv),
                capacity=p.capacity,
                average_voltage=p.average_voltage,
                energy=p.energy,
                raw_voltage=pack(getattr(pp, "raw_voltage", None)),
                raw_capacity=pack(getattr(pp, "raw_capacity", None)),
            )
        )
    session.flush()
    return test


def sample(session: Session, sample_id: int) -> Sample | None:
    return session.get(Sample, sample_id)


def material(session: Session, material_id: int) -> Material | None:
    return session.get(Material, material_id)


def material_by_formula(session: Session, formula: str) -> Material | None:
    return session.exec(select(Material).where(Material.formula == formula)).first()


def tests_of_sample(session: Session, sample_id: int) -> list[ElectrochemTest]:
    return list(session.exec(select(ElectrochemTest).where(ElectrochemTest.sample_id == sample_id)))


def profiles_of(session: Session, test_id: int) -> list[Profile]:
    return list(session.exec(select(Profile).where(Profile.test_id == test_id).order_by(Profile.cycle)))


def material_rows(session: Session) -> list[dict]:
    """One dict per material with its sample and test counts."""
    counts = dict(
        session.exec(
            select(Sample.material_id, func.count(ElectrochemTest.id))
            .join(ElectrochemTest, ElectrochemTest.sample_id == Sample.id, isouter=True)
            .group_by(Sample.material_id)
        ).all()
    )
    virtual = dict(
        session.exec(
            select(Sample.material_id, func.count(ElectrochemTest.id))
            .join(ElectrochemTest, ElectrochemTest.sample_id == Sample.id)
            .where(ElectrochemTest.virtual)
            .group_by(Sample.material_id)
        ).all()
    )
    rows = []
    for m in session.exec(select(Material).order_by(Material.id)):
        rows.append(
            {
                "id": m.id,
                "formula": m.formula,
                "class": m.klass,
                "n_metals": m.n_metals,
                "oxidation_states": json.loads(m.oxidation_json),
                "tests": int(counts.get(m.id, 0)),
                "virtual_tests": int(virtual.get(m.id, 0)),
            }
        )
    return rows


def test_rows(session: Session, campaign_id: int | None = None) -> list[dict]:
    """One dict per test: material, conditions, number of profiles, cycle-1 and last capacity."""
    q = (
        select(ElectrochemTest, Sample, Material)
        .join(Sample, ElectrochemTest.sample_id == Sample.id)
        .join(Material, Sample.material_id == Material.id)
        .order_by(ElectrochemTest.id)
    )
    if campaign_id is not None:
        q = q.where(Sample.campaign_id == campaign_id)
    rows = []
    for test, smp, mat in session.exec(q):
        caps = dict(
            session.exec(select(Profile.cycle, Profile.capacity).where(Profile.test_id == test.id)).all()
        )
        first = min(caps) if caps else None
        rows.append(
            {
                "id": test.id,
                "sample_id": smp.id,
                "formula": mat.formula,
                "class": mat.klass,
                "rate_mA_g": test.rate,
                "v_low_V": test.v_low,
                "v_high_V": test.v_high,
                "profiles": len(caps),
                "cycles": sorted(caps),
                "first_cycle": first,
                "capacity_first_mAh_g": caps.get(first) if caps else None,
                "capacity_cycle1_mAh_g": caps.get(1),
                "virtual": test.virtual,
                "source": test.source_file,
            }
        )
    return rows


def test_records(
    session: Session,
    *,
    test_ids: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
    campaign_id: int | None = None,
    max_cycle: int | None = None,
) -> list[TestRecord]:
    """Tests with their profile arrays, filtered by id, composition class or campaign.

    Tests of samples whose results were replaced (history) are left out.
    """
    q = (
        select(ElectrochemTest, Sample, Material)
        .join(Sample, ElectrochemTest.sample_id == Sample.id)
        .join(Material, Sample.material_id == Material.id)
        .where(Sample.status != SampleStatus.REPLACED)
        .order_by(ElectrochemTest.id)
    )
    if test_ids is not None:
        q = q.where(ElectrochemTest.id.in_(list(test_ids)))
    if classes:
        q = q.where(Material.klass.in_(list(classes)))
    if campaign_id is not None:
        q = q.where(Sample.campaign_id == campaign_id)
    out = []
    for test, smp, mat in session.exec(q):
        profs = {}
        for p in profiles_of(session, test.id):
            if max_cycle is None or p.cycle <= max_cycle:
                profs[p.cycle] = (unpack(p.voltage), unpack(p.capacity_curve), unpack(p.dqdv))
        if profs:
            out.append(
                TestRecord(
                    mat.formula,
                    test.rate,
                    test.v_low,
                    test.v_high,
                    profs,
                    test_id=test.id,
                    sample_id=smp.id,
                    klass=mat.klass,
                    virtual=test.virtual,
                )
            )
    return out


def tested_formulas(session: Session, campaign_ids_: Sequence[int] | None = None) -> list[str]:
    """Formulas of every material with at least one test (in these campaigns, or anywhere)."""
    q = (
        select(Material.formula)
        .join(Sample, Sample.material_id == Material.id)
        .join(ElectrochemTest, ElectrochemTest.sample_id == Sample.id)
        .distinct()
    )
    if campaign_ids_ is not None:
        q = q.where(Sample.campaign_id.in_(list(campaign_ids_)))
    return sorted(session.exec(q).all())


# ---------------------------------------------------------------- campaigns
def campaign_latest(session: Session, name: str) -> Campaign | None:
    return session.exec(
        select(Campaign).where(Campaign.name == name).order_by(Campaign.revision.desc())
    ).first()


def campaign_by_hash(session: Session, name: str, sha256: str) -> Campaign | None:
    return session.exec(select(Campaign).where(Campaign.name == name, Campaign.spec_hash == sha256)).first()


def add_campaign_revision(session: Session, name: str, text: str, sha256: str) -> tuple[Campaign, bool]:
    """Register a spec under its name: same text → the existing revision; changed → a new one."""
    same = campaign_by_hash(session, name, sha256)
    if same:
        return same, False
    latest = campaign_latest(session, name)
    row = Campaign(
        name=name, revision=(latest.revision + 1) if latest else 1, spec_text=text, spec_hash=sha256
    )
    session.add(row)
    session.flush()
    return row, True


def campaign_ids(session: Session, name: str) -> list[int]:
    """All revision ids of a campaign name."""
    return list(session.exec(select(Campaign.id).where(Campaign.name == name)).all())


def campaigns(session: Session) -> list[Campaign]:
    return list(session.exec(select(Campaign).order_by(Campaign.name, Campaign.revision)))


# ---------------------------------------------------------------- model registry
def model_by_hash(session: Session, sha256: str) -> ModelVersion | None:
    return session.exec(select(ModelVersion).where(ModelVersion.sha256 == sha256)).first()


def model_version(session: Session, ref: str | int) -> ModelVersion | None:
    """A model version by id, or by (a prefix of) its sha256."""
    if isinstance(ref, int) or str(ref).isdigit():
        return session.get(ModelVersion, int(ref))
    rows = list(session.exec(select(ModelVersion).where(ModelVersion.sha256.startswith(str(ref)))))
    return rows[0] if len(rows) == 1 else None


def add_model_version(
    session: Session,
    *,
    sha256: str,
    weights: bytes,
    source: str,
    n_members: int,
    config: dict,
    training: dict,
    metrics: dict,
    parent_id: int | None = None,
) -> ModelVersion:
    row = ModelVersion(
        sha256=sha256,
        weights=weights,
        source=source,
        n_members=n_members,
        parent_id=parent_id,
        config_json=dumps(config),
        training_json=dumps(training),
        metrics_json=dumps(metrics),
    )
    session.add(row)
    session.flush()
    return row


def set_current_model(session: Session, version_id: int, scope: str = "") -> None:
    row = session.get(CurrentModel, scope)
    if row is None:
        session.add(CurrentModel(scope=scope, version_id=version_id))
    else:
        row.version_id = version_id
        session.add(row)
    session.flush()


def current_model(session: Session, scope: str = "") -> ModelVersion | None:
    """The current version of a campaign, falling back to the lab-wide default."""
    for s in (scope, "") if scope else ("",):
        row = session.get(CurrentModel, s)
        if row is not None:
            return session.get(ModelVersion, row.version_id)
    return None


def model_versions(session: Session) -> list[ModelVersion]:
    return list(session.exec(select(ModelVersion).order_by(ModelVersion.id)))


def current_scopes(session: Session) -> dict[str, int]:
    return {r.scope: r.version_id for r in session.exec(select(CurrentModel))}


# ---------------------------------------------------------------- suggestions
def suggestions(session: Session, campaign_ids_: Sequence[int]) -> list[tuple[Suggestion, Sample, Material]]:
    q = (
        select(Suggestion, Sample, Material)
        .join(Sample, Suggestion.sample_id == Sample.id)
        .join(Material, Sample.material_id == Material.id)
        .where(Suggestion.campaign_id.in_(list(campaign_ids_)))
        .order_by(Suggestion.id)
    )
    return list(session.exec(q).all())


def suggestion_of_sample(session: Session, sample_id: int) -> Suggestion | None:
    return session.exec(select(Suggestion).where(Suggestion.sample_id == sample_id)).first()


def samples_of_campaign(session: Session, campaign_ids_: Sequence[int]) -> list[tuple[Sample, Material]]:
    q = (
        select(Sample, Material)
        .join(Material, Sample.material_id == Material.id)
        .where(Sample.campaign_id.in_(list(campaign_ids_)))
        .order_by(Sample.id)
    )
    return list(session.exec(q).all())


def made_or_suggested_formulas(
    session: Session, campaign_ids_: Sequence[int] | None = None, tested_in: Sequence[int] | None = None
) -> set[str]:
    """Formulas already made (a test in the campaigns ``tested_in``, default anywhere in the store)
    or suggested in these campaigns (not failed-and-retried)."""
    out = set(tested_formulas(session, tested_in))
    q = select(Material.formula).join(Sample, Sample.material_id == Material.id)
    if campaign_ids_ is not None:
        q = q.where(Sample.campaign_id.in_(list(campaign_ids_)))
    out.update(session.exec(q).all())
    return out


# ---------------------------------------------------------------- report
# Read-only look-ups for `drxlab report` (drxlab/report/data.py); they never write.
def report_samples(
    session: Session, campaign_ids_: Sequence[int]
) -> list[tuple[Sample, Material, Suggestion | None]]:
    """Every sample of these campaign revisions with its material and suggestion (None if not suggested)."""
    q = (
        select(Sample, Material, Suggestion)
        .join(Material, Sample.material_id == Material.id)
        .join(Suggestion, Suggestion.sample_id == Sample.id, isouter=True)
        .where(Sample.campaign_id.in_(list(campaign_ids_)))
        .order_by(Sample.id)
    )
    return list(session.exec(q).all())


def report_profiles(session: Session, sample_ids: Sequence[int]) -> list[tuple[ElectrochemTest, Profile]]:
    """Tests of these samples with each of their profiles, ordered by test id then cycle."""
    if not sample_ids:
        return []
    q = (
        select(ElectrochemTest, Profile)
        .join(Profile, Profile.test_id == ElectrochemTest.id)
        .where(ElectrochemTest.sample_id.in_(list(sample_ids)))
        .order_by(ElectrochemTest.id, Profile.cycle)
    )
    return list(session.exec(q).all())


def report_model_versions(session: Session, ids: Sequence[int]) -> list[ModelVersion]:
    """Model versions by id, with their ancestors, oldest first."""
    wanted = {int(i) for i in ids}
    seen: dict[int, ModelVersion] = {}
    while wanted - set(seen):
        rows = session.exec(select(ModelVersion).where(ModelVersion.id.in_(sorted(wanted - set(seen))))).all()
        if not rows:
            break
        for row in rows:
            seen[row.id] = row
            if row.parent_id is not None:
                wanted.add(row.parent_id)
    return [seen[i] for i in sorted(seen)]


def report_inventory(
    session: Session, campaign_ids_: Sequence[int] | None = None
) -> dict[str, dict[str, int]]:
    """Counts by composition class (2TM/3TM/HE): materials, samples, tests and profiles.

    With ``campaign_ids_`` only those campaigns' samples (and their materials, tests, profiles)
    are counted; with None the whole store, every material included.
    """

    def count(what, *joins):
        q = select(Material.klass, func.count(func.distinct(what)))
        for table, on in joins:
            q = q.join(table, on)
        if campaign_ids_ is not None:
            q = q.where(Sample.campaign_id.in_(list(campaign_ids_)))
        return q.group_by(Material.klass)

    sample = (Sample, Sample.material_id == Material.id)
    test = (ElectrochemTest, ElectrochemTest.sample_id == Sample.id)
    counts = {
        "materials": count(Material.id) if campaign_ids_ is None else count(Material.id, sample),
        "samples": count(Sample.id, sample),
        "tests": count(ElectrochemTest.id, sample, test),
        "profiles": count(Profile.id, sample, test, (Profile, Profile.test_id == ElectrochemTest.id)),
    }
    out: dict[str, dict[str, int]] = {}
    for key, q in counts.items():
        for klass, n in session.exec(q).all():
            out.setdefault(klass, dict.fromkeys(counts, 0))[key] = int(n)
    return out


def all_samples(session: Session) -> list[tuple[Sample, Material]]:
    """Every sample with its material, oldest first."""
    q = select(Sample, Material).join(Material, Sample.material_id == Material.id).order_by(Sample.id)
    return list(session.exec(q).all())
