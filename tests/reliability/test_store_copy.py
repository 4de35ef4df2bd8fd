"""`db copy` between SQLite and PostgreSQL, and `db backup / restore / check` on either backend:
every row, blob and model version arrives, verified; round trips are exact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from drxlab.store.db import open_store
from tests.conftest import BACKENDS, db_digest, query, store_digest
from tests.factories import SMALL_ARGS, write_drx_td


def _fill(run, url: str, tmp_path: Path, name: str = "a", n: int = 3) -> None:
    """Tests with profiles (blobs), and two model versions (parent and child) made current."""
    import torch

    from drxlab.model.drxnet import DRXNet
    from drxlab.model.ensemble import Ensemble
    from drxlab.workflow import models

    d = tmp_path / name
    d.mkdir()
    for i in range(n):
        write_drx_td(d / f"{name}-{i}.json", cap=240.0 + i, cycles=2 + i)
    r = run("import", d, db=url)
    assert r.exit_code == 0, r.output
    torch.manual_seed(0)
    store = open_store(url)
    with store.transaction() as s:
        parent, _ = models.register(s, Ensemble([DRXNet(**SMALL_ARGS)]), source="trained")
    with store.transaction() as s:
        models.register(
            s, Ensemble([DRXNet(**SMALL_ARGS), DRXNet(**SMALL_ARGS)]), source="finetuned", parent_id=parent.id
        )
    store.engine.dispose()


def test_sqlite_to_postgresql_to_sqlite_round_trip_is_identical(run, tmp_path: Path, pg_server) -> None:
    first = tmp_path / "laptop.sqlite"
    open_store(first).engine.dispose()
    _fill(run, str(first), tmp_path)
    server = pg_server.new_database()
    r = run("db", "copy", first, server, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output[r.output.index("{") :])
    assert rep["rows"]["profile"] == 2 + 3 + 4 and rep["rows"]["modelversion"] == 2
    assert "***" not in rep["destination"] and server.split("?")[0].split("@")[1] in rep["destination"]
    back = tmp_path / "back.sqlite"
    assert run("db", "copy", server, back).exit_code == 0
    assert store_digest(first) == store_digest(server) == store_digest(back)
    assert db_digest(first) == db_digest(back)  # byte for byte the same SQL dump
    weights = query(server, "SELECT sha256, weights FROM modelversion ORDER BY id")
    assert all(hashlib.sha256(w).hexdigest() == h for h, w in weights)
    assert run("db", "check", db=server).exit_code == 0
    # the copy continues where the source left off: new ids do not collide with copied ones
    _fill_more = tmp_path / "more"
    _fill_more.mkdir()
    write_drx_td(_fill_more / "m.json", cap=200.0, cycles=2)
    assert run("import", _fill_more, db=server).exit_code == 0
    assert query(server, "SELECT max(id) FROM electrochemtest") == [(4,)]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_copy_refuses_a_store_with_data_unless_forced(run, db_url: str, new_url, tmp_path: Path) -> None:
    _fill(run, db_url, tmp_path)
    other = new_url("other")
    open_store(other).engine.dispose()
    d = tmp_path / "b"
    d.mkdir()
    write_drx_td(d / "b.json", cap=100.0, cycles=1)
    assert run("import", d, db=other).exit_code == 0
    before = store_digest(other)
    r = run("db", "copy", db_url, other)
    assert r.exit_code == 1 and "already holds data; pass --force" in r.output
    assert store_digest(other) == before
    assert run("db", "copy", db_url, other, "--force").exit_code == 0
    assert store_digest(other) == store_digest(db_url)
    r = run("db", "copy", db_url, db_url)
    assert r.exit_code == 1 and "same store" in r.output


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_backup_restore_round_trip_on_either_backend(run, db_url: str, tmp_path: Path) -> None:
    _fill(run, db_url, tmp_path)
    before = store_digest(db_url)
    r = run("db", "backup", tmp_path / "b.sqlite", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["integrity_check"] == "ok" and rep["rows"]["profile"] == 9 and rep["rows"]["modelversion"] == 2
    assert store_digest(tmp_path / "b.sqlite") == before
    _fill(run, db_url, tmp_path, "later", n=1)
    changed = store_digest(db_url)
    r = run("db", "restore", tmp_path / "b.sqlite")
    assert r.exit_code == 1 and "--force" in r.output and store_digest(db_url) == changed
    r = run("db", "restore", tmp_path / "b.sqlite", "--force")
    assert r.exit_code == 0, r.output
    assert store_digest(db_url) == before
    (saved,) = tmp_path.glob("*.pre-restore-*")  # what was replaced is kept
    assert store_digest(saved) == changed
    assert run("db", "check").exit_code == 0
    assert len(json.loads(run("tests", "--json").output)) == 3


def test_check_on_postgresql_lists_every_problem(run, tmp_path: Path, pg_server) -> None:
    url = pg_server.new_database()
    open_store(url).engine.dispose()
    _fill(run, url, tmp_path)
    r = run("db", "check", "--json", db=url)
    assert r.exit_code == 0, r.output
    checked = json.loads(r.output)["checked"]
    assert "constraints validated" in checked["server_checks"] and checked["model_versions"] == 2
    name = url.split("@/")[1].split("?")[0]
    pg_server.admin(
        "DELETE FROM profile WHERE test_id = 1; "
        "UPDATE modelversion SET weights = '\\x00'::bytea WHERE id = 2; "
        "ALTER TABLE suggestion DROP CONSTRAINT suggestion_sample_id_fkey; "
        "INSERT INTO campaign (id, name, revision, spec_text, spec_hash, created_at) "
        "VALUES (1, 'c', 1, '', '', now()); "
        "INSERT INTO suggestion (sample_id, campaign_id, model_version_id, acquisition, "
        "params_json, seed, rank, predicted, predicted_std, acq_value, objectives_json, "
        "nearest_formula, nearest_distance, domain, created_at) "
        "VALUES (77, 1, 1, 'ucb', '{}', 0, 1, 1, 1, 1, '{}', '', 0, '', now())",
        dbname=name,
    )
    r = run("db", "check", db=url)
    assert r.exit_code == 1
    out = r.output
    assert "test 1 has no profiles" in out
    assert "model version 2" in out and "do not match their sha256" in out
    assert "current model of the lab (version 2) cannot be loaded" in out
    assert "suggestion 1 refers to sample 77" in out and "foreign key: suggestion row 1" in out
    assert out.strip().splitlines()[-1].startswith("Error: ") and "problem(s) found" in out
