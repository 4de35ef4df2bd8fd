"""db backup / restore / check: round trips are exact, copies are verified, damage is listed."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import db_digest
from tests.factories import SMALL_ARGS, write_drx_td


def _import(run, tmp_path: Path, name: str, n: int = 2, cap: float = 240.0):
    d = tmp_path / name
    d.mkdir()
    for i in range(n):
        write_drx_td(d / f"{name}-{i}.json", cap=cap + i, cycles=2 + i)
    r = run("import", d)
    assert r.exit_code == 0, r.output
    return d


def test_backup_restore_round_trip_is_exact(run, db_path: Path, tmp_path: Path) -> None:
    _import(run, tmp_path, "a")
    before = db_digest(db_path)
    r = run("db", "backup", tmp_path / "b.sqlite", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["integrity_check"] == "ok" and rep["rows"]["profile"] == 5 and rep["bytes"] > 0
    assert db_digest(tmp_path / "b.sqlite") == before
    assert not list(tmp_path.glob("b.sqlite-*")) and not list(
        tmp_path.glob(".b.sqlite*")
    )  # one self-contained file
    _import(run, tmp_path, "later", cap=200.0)
    changed = db_digest(db_path)
    r = run("db", "restore", tmp_path / "b.sqlite")
    assert r.exit_code == 1 and "--force" in r.output and db_digest(db_path) == changed
    r = run("db", "restore", tmp_path / "b.sqlite", "--force")
    assert r.exit_code == 0, r.output
    assert db_digest(db_path) == before
    (saved,) = tmp_path.glob("lab.sqlite.pre-restore-*.bak")  # what was replaced is kept
    assert db_digest(saved) == changed
    assert run("db", "check").exit_code == 0
    assert len(json.loads(run("tests", "--json").output)) == 2


def test_backup_never_overwrites_without_force(run, db_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "b.sqlite"
    target.write_text("precious")
    r = run("db", "backup", target)
    assert r.exit_code == 1 and "exists; pass --force" in r.output
    assert target.read_text() == "precious"
    r = run("db", "backup", target, "--force")
    assert r.exit_code == 0, r.output
    assert db_digest(target) == db_digest(db_path)


@pytest.mark.parametrize(
    "content", [b"", b"not a database at all" * 100, b"SQLite format 3\x00" + bytes(4000)]
)
def test_restore_refuses_a_bad_backup(run, db_path: Path, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(content)
    before = db_digest(db_path)
    r = run("db", "restore", bad, "--force")
    assert r.exit_code == 1 and r.output.count("Error: ") == 1, r.output
    assert db_digest(db_path) == before


def test_check_lists_every_problem(run, db_path: Path, tmp_path: Path) -> None:
    _import(run, tmp_path, "a")
    assert run("db", "check").exit_code == 0
    con = sqlite3.connect(db_path)
    con.execute("DELETE FROM profile WHERE test_id = 1")  # a test without profiles
    con.execute(
        "INSERT INTO sourcefile (sha256, name, format, imported_at) VALUES ('x', 'ghost.json', "
        "'drx-td-json', "
        "'2024-01-01')"
    )
    junk = b"not a model"
    con.execute(
        "INSERT INTO modelversion (id, sha256, source, n_members, config_json, training_json, metrics_json, "
        "created_at, weights) VALUES (1, ?, 'trained', 1, '{}', '{}', '{}', '2024-01-01', ?)",
        (hashlib.sha256(junk).hexdigest(), junk),
    )
    con.execute(
        "INSERT INTO modelversion (id, sha256, source, n_members, config_json, training_json, metrics_json, "
        "created_at, weights) VALUES (2, 'beef', 'trained', 1, '{}', '{}', '{}', '2024-01-01', x'00')"
    )
    con.execute("INSERT INTO currentmodel VALUES ('', 1)")
    con.execute(
        "INSERT INTO campaign (id, name, revision, spec_text, spec_hash, created_at) "
        "VALUES (1, 'c', 1, '', '', '2024-01-01')"
    )
    con.execute(
        "INSERT INTO suggestion (sample_id, campaign_id, model_version_id, acquisition, params_json, seed, "
        "rank, predicted, predicted_std, acq_value, objectives_json, nearest_formula, nearest_distance, "
        "domain, created_at) VALUES (77, 1, 1, 'ucb', '{}', 0, 1, 1, 1, 1, '{}', '', 0, '', '2024-01-01')"
    )
    con.commit()
    con.close()
    r = run("db", "check")
    assert r.exit_code == 1
    out = r.output
    assert "test 1 has no profiles" in out
    assert "ghost.json" in out and "has no tests" in out
    assert "model version 2" in out and "do not match their sha256" in out
    assert "current model of the lab (version 1) cannot be loaded" in out
    assert "suggestion 1 refers to sample 77" in out
    assert "foreign key: suggestion" in out
    assert out.strip().splitlines()[-1].startswith("Error: ") and "problem(s) found" in out


def test_check_loads_a_real_current_model(run, db_path: Path) -> None:
    import torch

    from drxlab.model.drxnet import DRXNet
    from drxlab.model.ensemble import Ensemble
    from drxlab.store.db import open_store
    from drxlab.workflow import models

    torch.manual_seed(0)
    store = open_store(db_path)
    with store.transaction() as s:
        models.register(s, Ensemble([DRXNet(**SMALL_ARGS)]), source="trained")
    store.engine.dispose()
    r = run("db", "check", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["checked"]["current_models_loaded"] == 1
