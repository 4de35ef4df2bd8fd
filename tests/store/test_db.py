"""Opening the store: URL resolution, SQLite pragmas, schema version checks, compact arrays."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from drxlab.exceptions import StoreError
from drxlab.store.db import open_store, resolve_url
from drxlab.store.tables import SCHEMA_VERSION, pack, unpack


def test_plain_path_means_sqlite_and_env_var_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_url(tmp_path / "x.sqlite") == f"sqlite:///{(tmp_path / 'x.sqlite').resolve()}"
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"  # psycopg 3, not psycopg2
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("postgres://u:pw@h:5433/db") == "postgresql+psycopg://u:pw@h:5433/db"
    monkeypatch.setenv("DRXLAB_DB", str(tmp_path / "env.sqlite"))
    assert resolve_url(None).endswith("env.sqlite")


def test_sqlite_pragmas(db_path: Path) -> None:
    store = open_store(db_path)
    with store.engine.connect() as con:
        assert con.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert con.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert con.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000


def test_newer_schema_is_refused(db_path: Path) -> None:
    con = sqlite3.connect(db_path)
    con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this drxlab supports"):
        open_store(db_path)


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE stuff (x int)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a drxlab store"):
        open_store(path)


def test_missing_database_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="drxlab init"):
        open_store(tmp_path / "none.sqlite", create=False)


def test_arrays_pack_compactly_and_exactly() -> None:
    a = np.linspace(1.5, 4.8, 100)
    blob = pack(a)
    assert len(blob) == 800
    assert np.array_equal(unpack(blob), a)
