"""Schema migrations: a store made by the first release (frozen v1 DDL) upgrades to head.

Upgrades run in one transaction after a backup copy; a fresh store is created at head; the
migrated schema equals the one created from tables.py; a failed upgrade changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from drxlab.exceptions import StoreError
from drxlab.store.db import HEAD_REVISION, REVISIONS, alembic_config, open_store, schema_version
from drxlab.store.tables import SCHEMA_VERSION
from tests.conftest import db_digest

V1_SQL = Path(__file__).with_name("data") / "schema_v1.sql"


def make_v1(path: Path, rows: bool = True) -> Path:
    """A store exactly as drxlab 0.1 created it (frozen DDL), with a little data."""
    con = sqlite3.connect(path)
    con.executescript(V1_SQL.read_text())
    if rows:
        blob = bytes(800)
        con.executescript("""
            INSERT INTO material VALUES (1, 'Li1.2Mn0.4Ti0.4O2', '{}', '{}', 2, '2TM');
            INSERT INTO sample VALUES (1, 1, NULL, 'tested', NULL, '',
                                       '2024-05-01 10:00:00', '2024-05-01 10:00:00');
            INSERT INTO sourcefile VALUES (1, 'abc', 't.json', 'drx-td-json', '2024-05-01 10:00:00');
            INSERT INTO electrochemtest VALUES (1, 1, 20.0, 1.5, 4.8, NULL, NULL, 't.json', 'abc', '', 0,
                                                '2024-05-01 10:00:00');
        """)
        for cycle in (1, 2):
            con.execute(
                "INSERT INTO profile VALUES (NULL, 1, ?, ?, ?, ?, 250.0, 3.0, 700.0, NULL, NULL)",
                (cycle, blob, blob, blob),
            )
    con.commit()
    con.close()
    return path


def structure(path: Path) -> dict:
    """Tables → columns (name, type, not null, pk), indexes (name, unique, columns), foreign keys."""
    con = sqlite3.connect(path)
    out = {}
    names = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
        )
    ]
    for n in sorted(names):
        cols = [(r[1], r[2].upper(), r[3], r[5]) for r in con.execute(f"PRAGMA table_info('{n}')")]
        idx = sorted(
            (
                r[1] if not r[1].startswith("sqlite_") else "auto",
                r[2],
                tuple(c[2] for c in con.execute(f"PRAGMA index_info('{r[1]}')")),
            )
            for r in con.execute(f"PRAGMA index_list('{n}')")
        )
        fks = sorted((r[2], r[3], r[4]) for r in con.execute(f"PRAGMA foreign_key_list('{n}')"))
        out[n] = (cols, idx, fks)
    con.close()
    return out


def test_alembic_head_is_the_schema_version() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD_REVISION] == [REVISIONS[SCHEMA_VERSION]]
    assert SCHEMA_VERSION == 3


def test_v1_store_upgrades_to_head_keeping_data_and_a_backup(tmp_path: Path, run) -> None:
    path = make_v1(tmp_path / "old.sqlite")
    before = db_digest(path)
    store = open_store(path)
    assert schema_version(store) == SCHEMA_VERSION
    bak = tmp_path / "old.sqlite.pre-migration-1.bak"
    assert bak.exists() and db_digest(bak) == before  # the copy is the v1 store, unchanged
    con = sqlite3.connect(path)
    assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD_REVISION
    assert con.execute("SELECT COUNT(*) FROM profile").fetchone()[0] == 2
    assert con.execute("SELECT formula FROM material").fetchone()[0] == "Li1.2Mn0.4Ti0.4O2"
    con.close()
    store.engine.dispose()
    # the new table works: a write command leaves an audit row; the whole store checks clean
    r = run("campaign", "add", Path(__file__).parents[2] / "campaigns" / "he-drx.toml", db=path)
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(path)
    command_, args, changes = con.execute("SELECT command, args_json, changes_json FROM auditlog").fetchone()
    assert command_.endswith("campaign add") and json.loads(changes) == {"campaign": [1, 0, 0]}
    assert json.loads(args)["file"].endswith("he-drx.toml")
    con.close()
    r = run("db", "check", db=path)
    assert r.exit_code == 0, r.output
    # opening again does nothing more (no second backup)
    open_store(path).engine.dispose()
    assert not (tmp_path / "old.sqlite.pre-migration-1.1.bak").exists()


def test_migrated_schema_equals_fresh_schema(tmp_path: Path) -> None:
    old = make_v1(tmp_path / "old.sqlite", rows=False)
    open_store(old).engine.dispose()
    fresh = tmp_path / "fresh.sqlite"
    open_store(fresh).engine.dispose()
    assert structure(old) == structure(fresh)


def test_initial_migration_reproduces_the_frozen_v1_schema(tmp_path: Path) -> None:
    frozen = make_v1(tmp_path / "frozen.sqlite", rows=False)
    built = tmp_path / "built.sqlite"
    store = open_store(built)
    with store.engine.begin() as conn:  # downgrade head → 0001 → base, then up to 0001 only
        command.downgrade(alembic_config(conn), "base")
        assert set(structure_names(conn)) == {"alembic_version"}
        command.upgrade(alembic_config(conn), REVISIONS[1])
    store.engine.dispose()
    assert structure(built) == structure(frozen)


def structure_names(conn) -> list[str]:
    return [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")]


def test_failed_upgrade_changes_nothing(tmp_path: Path) -> None:
    path = make_v1(tmp_path / "old.sqlite")
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE auditlog (x int)")  # makes migration 0002 fail half-way
    con.commit()
    con.close()
    before = db_digest(path)
    with pytest.raises(StoreError, match="from schema version 1 to 3 failed.*unchanged"):
        open_store(path)
    assert db_digest(path) == before
    assert (tmp_path / "old.sqlite.pre-migration-1.bak").exists()


def test_newer_schema_is_refused_untouched(db_path: Path) -> None:
    con = sqlite3.connect(db_path)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    before = db_digest(db_path)
    with pytest.raises(StoreError, match="schema version 99, newer than this drxlab supports"):
        open_store(db_path)
    assert db_digest(db_path) == before


def test_interrupted_creation_by_an_older_drxlab_is_completed(tmp_path: Path) -> None:
    path = tmp_path / "partial.sqlite"
    con = sqlite3.connect(path)
    con.executescript(V1_SQL.read_text().split("CREATE TABLE modelversion")[0])  # some tables, no meta row
    con.commit()
    con.close()
    store = open_store(path)
    assert schema_version(store) == SCHEMA_VERSION
    store.engine.dispose()
    assert structure(path) == structure(open_fresh(tmp_path))


def open_fresh(tmp_path: Path) -> Path:
    fresh = tmp_path / "fresh.sqlite"
    open_store(fresh).engine.dispose()
    return fresh


def test_damaged_store_without_version_is_refused(tmp_path: Path) -> None:
    path = make_v1(tmp_path / "old.sqlite")
    con = sqlite3.connect(path)
    con.execute("DELETE FROM meta")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="no schema version"):
        open_store(path)
