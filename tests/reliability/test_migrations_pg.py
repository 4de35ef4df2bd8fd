"""Schema migrations on PostgreSQL: the first released schema (revision 0001) upgrades to head
keeping its data, the result equals a freshly created store, a failed upgrade changes nothing
(PostgreSQL's DDL is transactional), and every backend runs the same migration scripts."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from drxlab.exceptions import StoreError
from drxlab.store.db import REVISIONS, alembic_config, open_store, resolve_url, schema_version
from drxlab.store.tables import SCHEMA_VERSION
from tests.conftest import query


def make_v1(url: str, rows: bool = True) -> str:
    """A PostgreSQL database at schema version 1 (revision 0001), with a little data."""
    engine = create_engine(resolve_url(url))
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), REVISIONS[1])
        if rows:
            conn.exec_driver_sql(
                "INSERT INTO material VALUES (1, 'Li1.2Mn0.4Ti0.4O2', '{}', '{}', 2, '2TM');"
                "INSERT INTO sample VALUES (1, 1, NULL, 'tested', NULL, '', '2024-05-01 10:00:00', "
                "'2024-05-01 10:00:00');"
                "INSERT INTO sourcefile VALUES (1, 'abc', 't.json', 'drx-td-json', '2024-05-01 10:00:00');"
                "INSERT INTO electrochemtest VALUES (1, 1, 20.0, 1.5, 4.8, NULL, NULL, 't.json', 'abc', '', "
                "false, '2024-05-01 10:00:00');"
                "INSERT INTO profile VALUES (1, 1, 1, '\\x00', '\\x00', '\\x00', 250.0, 3.0, 700.0, "
                "NULL, NULL);"
                "SELECT setval(pg_get_serial_sequence('profile', 'id'), 1)"
            )
    engine.dispose()
    return url


def structure(url: str) -> dict:
    """Tables → columns (name, type, nullable), indexes, unique constraints, foreign keys."""
    engine = create_engine(resolve_url(url))
    out = {}
    with engine.connect() as conn:
        insp = inspect(conn)
        for n in sorted(set(insp.get_table_names()) - {"alembic_version"}):
            cols = [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(n)]
            idx = sorted(
                (i["name"], bool(i["unique"]), tuple(i["column_names"])) for i in insp.get_indexes(n)
            )
            uniq = sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(n))
            fks = sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in insp.get_foreign_keys(n)
            )
            out[n] = (cols, idx, uniq, fks, insp.get_pk_constraint(n)["constrained_columns"])
    engine.dispose()
    return out


def _contents(url: str) -> dict:
    """Every table's rows, whatever its columns (the store may hold a foreign table)."""
    names = [n for (n,) in query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    return {n: query(url, f'SELECT * FROM "{n}" ORDER BY 1') for n in sorted(names)}


def test_v1_database_upgrades_to_head_keeping_data(pg_server) -> None:
    url = make_v1(pg_server.new_database())
    assert query(url, "SELECT value FROM meta") == [("1",)]
    store = open_store(url)
    assert schema_version(store) == SCHEMA_VERSION
    store.engine.dispose()
    assert query(url, "SELECT version_num FROM alembic_version") == [(REVISIONS[SCHEMA_VERSION],)]
    assert query(url, "SELECT cycle, capacity FROM profile") == [(1, 250.0)]
    assert query(url, "SELECT COUNT(*) FROM auditlog") == [(0,)]


def test_migrated_schema_equals_fresh_schema(pg_server) -> None:
    old = make_v1(pg_server.new_database(), rows=False)
    open_store(old).engine.dispose()
    fresh = pg_server.new_database()
    open_store(fresh).engine.dispose()
    assert structure(old) == structure(fresh)


def test_failed_upgrade_changes_nothing(pg_server) -> None:
    url = make_v1(pg_server.new_database())
    name = url.split("@/")[1].split("?")[0]
    pg_server.admin("CREATE TABLE auditlog (x int)", dbname=name)  # makes migration 0002 fail half-way
    before = _contents(url)
    with pytest.raises(StoreError, match="from schema version 1 to 3 failed.*unchanged"):
        open_store(url)
    assert _contents(url) == before
    assert query(url, "SELECT version_num FROM alembic_version") == [(REVISIONS[1],)]
    assert query(url, "SELECT value FROM meta") == [("1",)]
