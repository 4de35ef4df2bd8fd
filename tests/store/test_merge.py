"""Merging per-campaign stores (overlapping ids) into one, or into a lab's PostgreSQL database: keys
remapped, shared rows once, all or nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from drxlab.exceptions import StoreError
from drxlab.store import queries
from drxlab.store.db import open_store
from drxlab.store.merge import merge_into_server, merge_stores
from drxlab.vocabulary import SampleStatus
from drxlab.workflow import campaigns
from drxlab.workflow.ingest import material
from tests.conftest import query, store_digest
from tests.factories import add_tested, campaign_toml

SPECIES = {"Mn3+": 0.3, "Ti4+": 0.3}


def _campaign_store(path: Path, name: str, formulas: list[str]) -> Path:
    st = open_store(path)
    spec_file = path.with_suffix(".toml")
    spec_file.write_text(campaign_toml(name, SPECIES))
    with st.transaction() as s:
        camp, _, _ = campaigns.add(s, spec_file)
        add_tested(s, formulas[0], {1: 200.0, 2: 190.0}, campaign_id=camp.id)
        for f in formulas[1:]:
            mat = material(s, f, {"Li": 1.2, "Mn": 0.8, "O": 2.0}, {})
            queries.add_sample(s, mat.id, campaign_id=camp.id, status=SampleStatus.PROPOSED, round=1)
    st.engine.dispose()
    return path


def _content(db: Path) -> dict[str, list[str]]:
    sql = {
        "sample": "select c.name, m.formula, s.status, s.round from sample s join material m "
        "on m.id = s.material_id left join campaign c on c.id = s.campaign_id",
        "test": "select c.name, m.formula, t.rate, count(p.id) from electrochemtest t join sample s "
        "on s.id = t.sample_id join material m on m.id = s.material_id left join campaign c "
        "on c.id = s.campaign_id left join profile p on p.test_id = t.id group by t.id",
        "material": "select formula from material",
    }
    with sqlite3.connect(db) as con:
        return {k: sorted(map(repr, con.execute(q))) for k, q in sql.items()}


def test_ids_are_remapped_and_a_shared_material_is_kept_once(tmp_path: Path) -> None:
    a = _campaign_store(tmp_path / "a.sqlite", "alpha", ["Li1.2Mn0.8O2", "Li1.1Mn0.9O2"])
    b = _campaign_store(tmp_path / "b.sqlite", "beta", ["Li1.1Mn0.9O2", "Li1.3Mn0.7O2", "Li1.2Mn0.8O2"])
    counts = merge_stores([a, b], tmp_path / "merged.sqlite")
    assert counts["campaign"] == 2 and counts["sample"] == 5 and counts["material"] == 3
    got = _content(tmp_path / "merged.sqlite")
    want_a, want_b = _content(a), _content(b)
    assert got["sample"] == sorted(want_a["sample"] + want_b["sample"])
    assert got["test"] == sorted(want_a["test"] + want_b["test"])  # each test with its 2 profiles


def test_a_campaign_in_two_stores_is_kept_once(tmp_path: Path) -> None:
    # a simulated seed's starting data are in every strategy's store of that seed
    formulas = ["Li1.2Mn0.8O2", "Li1.1Mn0.9O2"]
    a = _campaign_store(tmp_path / "a.sqlite", "start-s0", formulas)
    b = _campaign_store(tmp_path / "b.sqlite", "start-s0", formulas)
    counts = merge_stores([a, b], tmp_path / "merged.sqlite")
    assert (counts["campaign"], counts["sample"], counts["electrochemtest"]) == (1, 2, 1)
    assert _content(tmp_path / "merged.sqlite") == _content(a)


def test_a_failed_merge_leaves_nothing(tmp_path: Path) -> None:
    a = _campaign_store(tmp_path / "a.sqlite", "alpha", ["Li1.2Mn0.8O2"])
    again = _campaign_store(tmp_path / "b.sqlite", "alpha", ["Li1.1Mn0.9O2"])  # same revision, other rows
    dest = tmp_path / "merged.sqlite"
    with pytest.raises(StoreError, match=r"cannot merge .*b\.sqlite.*differs"):
        merge_stores([a, again], dest)
    assert not dest.exists() and list(tmp_path.glob(".merged*")) == []


def _server_content(url: str) -> dict[str, list[str]]:
    """:func:`_content` of any store, in SQL both backends run."""
    sql = {
        "sample": "select c.name, m.formula, s.status, s.round from sample s join material m "
        "on m.id = s.material_id left join campaign c on c.id = s.campaign_id",
        "test": "select c.name, m.formula, t.rate, (select count(*) from profile p where p.test_id = t.id) "
        "from electrochemtest t join sample s on s.id = t.sample_id join material m on m.id = s.material_id "
        "left join campaign c on c.id = s.campaign_id",
        "material": "select formula from material",
    }
    return {k: sorted(repr(tuple(map(str, r))) for r in query(url, q)) for k, q in sql.items()}


def test_stores_merge_into_a_lab_postgresql_database_all_or_nothing(pg_server, tmp_path: Path) -> None:
    a = _campaign_store(tmp_path / "a.sqlite", "alpha", ["Li1.2Mn0.8O2", "Li1.1Mn0.9O2"])
    b = _campaign_store(tmp_path / "b.sqlite", "beta", ["Li1.1Mn0.9O2", "Li1.3Mn0.7O2"])
    url = pg_server.new_database()
    lab = _campaign_store(tmp_path / "lab.sqlite", "lab", ["Li1.3Mn0.7O2"])  # the lab's own data first
    merge_into_server([lab], url)
    counts = merge_into_server([a, b], url)
    assert counts["campaign"] == 3 and counts["sample"] == 5 and counts["material"] == 3
    merge_stores([lab, a, b], tmp_path / "merged.sqlite")
    assert _server_content(url) == _server_content(str(tmp_path / "merged.sqlite"))
    # the same stores again add no data (a simulation merged twice; the audit log records each
    # write); other rows under a campaign the database holds fail the merge and change nothing
    again_counts = merge_into_server([a, b], url)
    assert {k: v for k, v in again_counts.items() if k != "auditlog"} == {
        k: v for k, v in counts.items() if k != "auditlog"
    }
    before = store_digest(url)
    again = _campaign_store(tmp_path / "c.sqlite", "alpha", ["Li1.3Mn0.7O2"])
    with pytest.raises(StoreError, match=r"cannot merge .*c\.sqlite.*differs"):
        merge_into_server([b, again], url)
    assert store_digest(url) == before
