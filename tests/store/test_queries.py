"""drxlab.store.queries on an in-memory SQLite store (``open_store("sqlite://")``): one behaviour per test."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
from sqlmodel import Session, select

from drxlab.chem import compositions
from drxlab.store import queries
from drxlab.store.db import Store, open_store
from drxlab.store.tables import Material, Sample, Suggestion, dumps
from drxlab.vocabulary import SampleStatus
from tests.factories import add_tested, parsed_profiles

LMTO = "Li1.2Mn0.4Ti0.4O2"
HE = "Li1.2Cr0.3Mg0.1Mn0.1Nb0.1Ti0.2O1.8F0.2"


@pytest.fixture
def store() -> Iterator[Store]:
    """A fresh in-memory store at the current schema (one connection per thread keeps it alive)."""
    st = open_store("sqlite://")
    assert st.path is None
    yield st
    st.engine.dispose()


@pytest.fixture
def session(store: Store) -> Iterator[Session]:
    with store.transaction() as s:
        yield s


def material(session: Session, formula: str) -> Material:
    amts = compositions.amounts(formula)
    return queries.material_for(
        session,
        formula,
        amts,
        compositions.oxidation_states(amts),
        len(compositions.metals(amts)),
        compositions.composition_class(amts),
    )


def campaign(session: Session, name: str = "c", text: str = "spec") -> int:
    return queries.add_campaign_revision(session, name, text, f"sha-{name}-{text}")[0].id


# ---------------------------------------------------------------- materials, samples, tests
def test_material_for_creates_once_per_formula(session: Session) -> None:
    first = material(session, LMTO)
    again = queries.material_for(session, LMTO, {"Li": 9.0}, {}, 7, "HE")  # existing row wins
    assert again.id == first.id and again.klass == "2TM" and again.n_metals == 2
    assert json.loads(again.amounts_json) == {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}
    other = material(session, HE)
    assert other.id != first.id and other.klass == "HE"
    assert [r["formula"] for r in queries.material_rows(session)] == [LMTO, HE]
    assert queries.material_by_formula(session, HE).id == other.id
    assert queries.material_by_formula(session, "Li1.3Mn0.7O2") is None


def test_add_sample_and_set_status_persist(store: Store) -> None:
    with store.transaction() as s:
        smp = queries.add_sample(
            s, material(s, LMTO).id, status=SampleStatus.PROPOSED, round=2, notes="rank 1"
        )
        sid, created = smp.id, smp.updated_at
    with store.transaction() as s:
        smp = queries.sample(s, sid)
        assert (smp.status, smp.round, smp.notes) == (SampleStatus.PROPOSED, 2, "rank 1")
        queries.set_sample_status(s, smp, SampleStatus.FAILED, "failed: impure")
        queries.set_sample_status(s, smp, SampleStatus.FAILED)  # no notes: nothing appended
    with store.reader() as s:
        smp = queries.sample(s, sid)
        assert smp.status == "failed" and smp.notes == "rank 1\nfailed: impure"
        assert smp.updated_at >= created
        assert queries.sample(s, sid + 1) is None


def test_add_sample_defaults_to_tested_without_campaign(session: Session) -> None:
    smp = queries.add_sample(session, material(session, LMTO).id)
    assert smp.status == SampleStatus.TESTED and smp.campaign_id is None and smp.round is None


def test_add_test_stores_profiles_by_cycle(session: Session) -> None:
    tid = add_tested(session, LMTO, {2: 230.0, 1: 250.0, 3: 220.0}).id
    profs = queries.profiles_of(session, tid)
    assert [p.cycle for p in profs] == [1, 2, 3]
    assert [p.capacity for p in profs] == pytest.approx([250.0, 230.0, 220.0])
    want = parsed_profiles({1: 250.0})[0].profile
    assert np.array_equal(queries.unpack(profs[0].voltage), want.voltage)
    assert np.allclose(queries.unpack(profs[0].capacity_curve), want.capacity_curve)
    assert profs[0].energy == pytest.approx(want.energy) and profs[0].raw_voltage is None
    (row,) = queries.test_rows(session)
    assert (row["formula"], row["profiles"], row["cycles"]) == (LMTO, 3, [1, 2, 3])
    assert row["capacity_cycle1_mAh_g"] == pytest.approx(250.0) and row["rate_mA_g"] == 20.0
    assert queries.tested_formulas(session) == [LMTO]


def test_test_records_filters(session: Session) -> None:
    cid = campaign(session)
    a = add_tested(session, LMTO, {1: 250.0, 2: 240.0}, campaign_id=cid).id
    b = add_tested(session, HE, {1: 200.0, 5: 180.0}).id
    c = add_tested(session, HE, {3: 150.0}, campaign_id=cid, rate=100.0).id

    def ids(**kw: object) -> list[int]:
        return [r.test_id for r in queries.test_records(session, **kw)]

    assert ids() == [a, b, c]
    assert ids(test_ids=[c, a]) == [a, c]
    assert ids(test_ids=[]) == []
    assert ids(classes=["HE"]) == [b, c]
    assert ids(classes=["3TM"]) == []
    assert ids(campaign_id=cid) == [a, c]
    assert ids(campaign_id=cid, classes=["2TM"]) == [a]
    # max_cycle trims profiles; a test with none left is dropped
    assert ids(max_cycle=2) == [a, b]
    recs = {r.test_id: r for r in queries.test_records(session, max_cycle=2)}
    assert sorted(recs[a].profiles) == [1, 2] and sorted(recs[b].profiles) == [1]
    v, q, dqdv = recs[b].profiles[1]
    assert q[0] == pytest.approx(200.0) and v.shape == q.shape == dqdv.shape == (50,)
    assert (recs[a].formula, recs[a].klass, recs[a].rate, recs[a].v_low, recs[a].v_high) == (
        LMTO,
        "2TM",
        20.0,
        1.5,
        4.8,
    )


def test_test_records_leave_out_replaced_samples(session: Session) -> None:
    old = add_tested(session, LMTO, {1: 250.0}, status=SampleStatus.REPLACED).id
    new = add_tested(session, LMTO, {1: 260.0}).id
    assert [r.test_id for r in queries.test_records(session)] == [new]
    assert queries.test_records(session, test_ids=[old]) == []
    assert [r["id"] for r in queries.test_rows(session)] == [old, new]  # the history is still listed


# ---------------------------------------------------------------- campaigns
def test_campaign_revisions(session: Session) -> None:
    first, created = queries.add_campaign_revision(session, "lmo", "a = 1", "h1")
    assert created and first.revision == 1
    same, created = queries.add_campaign_revision(session, "lmo", "a = 1", "h1")
    assert not created and same.id == first.id
    second, created = queries.add_campaign_revision(session, "lmo", "a = 2", "h2")
    assert created and second.revision == 2
    back, created = queries.add_campaign_revision(session, "lmo", "a = 1", "h1")  # reverting: no new revision
    assert not created and back.id == first.id
    other, _ = queries.add_campaign_revision(session, "he", "b = 1", "h1")  # same text, another name
    assert other.revision == 1 and other.id not in (first.id, second.id)
    assert queries.campaign_latest(session, "lmo").id == second.id
    assert queries.campaign_latest(session, "nope") is None
    assert sorted(queries.campaign_ids(session, "lmo")) == [first.id, second.id]
    assert queries.campaign_ids(session, "nope") == []
    assert [(c.name, c.revision) for c in queries.campaigns(session)] == [("he", 1), ("lmo", 1), ("lmo", 2)]


# ---------------------------------------------------------------- model registry
def version(session: Session, sha: str, parent_id: int | None = None) -> int:
    return queries.add_model_version(
        session,
        sha256=sha,
        weights=b"w" + sha.encode(),
        source="test",
        n_members=2,
        config={"n": 1},
        training={"epochs": 1},
        metrics={"mae": 3.5},
        parent_id=parent_id,
    ).id


def test_model_versions_by_id_hash_and_prefix(session: Session) -> None:
    a = version(session, "abc111")
    b = version(session, "abc222", parent_id=a)
    row = queries.model_version(session, a)
    assert row.sha256 == "abc111" and json.loads(row.metrics_json) == {"mae": 3.5}
    assert queries.model_version(session, str(b)).id == b
    assert queries.model_version(session, "abc2").id == b
    assert queries.model_version(session, "abc") is None  # ambiguous prefix
    assert queries.model_version(session, "fff") is None
    assert queries.model_by_hash(session, "abc111").id == a and queries.model_by_hash(session, "abc") is None
    assert [v.id for v in queries.model_versions(session)] == [a, b]
    assert [v.id for v in queries.report_model_versions(session, [b])] == [a, b]  # with its parent


def test_current_model_per_scope_falls_back_to_lab_wide(session: Session) -> None:
    a, b, c = (version(session, sha) for sha in ("a1", "b2", "c3"))
    assert queries.current_model(session) is None and queries.current_model(session, "lmo") is None
    queries.set_current_model(session, a)
    assert queries.current_model(session).id == a
    assert queries.current_model(session, "lmo").id == a  # no campaign model: the lab-wide one
    queries.set_current_model(session, b, "lmo")
    assert queries.current_model(session, "lmo").id == b and queries.current_model(session).id == a
    queries.set_current_model(session, c, "lmo")  # replaces, does not add
    assert queries.current_model(session, "lmo").id == c
    assert queries.current_model(session, "he").id == a
    assert queries.current_scopes(session) == {"": a, "lmo": c}


# ---------------------------------------------------------------- exclusions and the report
def test_made_or_suggested_formulas(session: Session) -> None:
    mine, theirs = campaign(session, "mine"), campaign(session, "theirs")
    add_tested(session, LMTO, {1: 250.0})  # tested anywhere: made
    for formula, cid in (("Li1.3Mn0.7O2", mine), ("Li1.25Mn0.75O2", theirs), ("Li1.1Mn0.9O2", None)):
        queries.add_sample(
            session, material(session, formula).id, campaign_id=cid, status=SampleStatus.PROPOSED
        )
    material(session, "Li1.2Mn0.8O1.8F0.2")  # a material without a sample is neither
    assert queries.made_or_suggested_formulas(session, [mine]) == {LMTO, "Li1.3Mn0.7O2"}
    assert queries.made_or_suggested_formulas(session, [mine, theirs]) == {
        LMTO,
        "Li1.3Mn0.7O2",
        "Li1.25Mn0.75O2",
    }
    assert queries.made_or_suggested_formulas(session, []) == {LMTO}
    assert queries.made_or_suggested_formulas(session) == {
        LMTO,
        "Li1.3Mn0.7O2",
        "Li1.25Mn0.75O2",
        "Li1.1Mn0.9O2",
    }


def test_suggestions_join_sample_and_material(session: Session) -> None:
    cid = campaign(session)
    vid = version(session, "v1")
    smp = queries.add_sample(
        session, material(session, LMTO).id, campaign_id=cid, status=SampleStatus.PROPOSED
    )
    session.add(
        Suggestion(
            sample_id=smp.id,
            campaign_id=cid,
            model_version_id=vid,
            acquisition="ucb",
            params_json=dumps({}),
            seed=0,
            rank=1,
            predicted=250.0,
            predicted_std=10.0,
            acq_value=270.0,
            objectives_json=dumps({}),
            nearest_formula="",
            nearest_distance=-1.0,
            domain="in",
        )
    )
    session.flush()
    ((sug, s, m),) = queries.suggestions(session, [cid])
    assert (sug.rank, s.id, m.formula) == (1, smp.id, LMTO)
    assert queries.suggestions(session, [cid + 1]) == []
    assert queries.suggestion_of_sample(session, smp.id).id == sug.id
    assert [(s.id, m.formula) for s, m in queries.samples_of_campaign(session, [cid])] == [(smp.id, LMTO)]


def test_report_inventory_counts_by_class(session: Session) -> None:
    cid = campaign(session)
    add_tested(session, LMTO, {1: 250.0, 2: 240.0}, campaign_id=cid)
    add_tested(session, LMTO, {1: 245.0})  # a second sample of the same material, outside the campaign
    add_tested(session, HE, {1: 200.0}, campaign_id=cid)
    queries.add_sample(
        session, material(session, "Li1.2Mn0.2Ti0.3Nb0.3O2").id, campaign_id=cid, status=SampleStatus.PROPOSED
    )
    material(session, "Li1.3Mn0.7O2")  # no sample at all
    every = queries.report_inventory(session)
    assert every == {
        "2TM": {"materials": 2, "samples": 2, "tests": 2, "profiles": 3},
        "3TM": {"materials": 1, "samples": 1, "tests": 0, "profiles": 0},
        "HE": {"materials": 1, "samples": 1, "tests": 1, "profiles": 1},
    }
    assert queries.report_inventory(session, [cid]) == {
        "2TM": {"materials": 1, "samples": 1, "tests": 1, "profiles": 2},
        "3TM": {"materials": 1, "samples": 1, "tests": 0, "profiles": 0},
        "HE": {"materials": 1, "samples": 1, "tests": 1, "profiles": 1},
    }
    assert queries.report_inventory(session, [cid + 1]) == {}
    assert len(session.exec(select(Sample)).all()) == 4
