"""PostgreSQL as a store: connecting, refusing what is not a drxlab store, masking passwords."""

from __future__ import annotations

import pytest

from drxlab.exceptions import StoreError
from drxlab.store.db import HEAD_REVISION, display_url, open_store, schema_version
from drxlab.store.tables import SCHEMA_VERSION
from tests.conftest import query
from tests.pg import PASSWORD


def test_plain_postgresql_url_opens_a_new_store_at_the_current_schema(pg_server) -> None:
    url = pg_server.new_database()
    assert url.startswith("postgresql://")
    store = open_store(url)
    assert store.dialect == "postgresql" and schema_version(store) == SCHEMA_VERSION
    store.engine.dispose()
    assert f"{SCHEMA_VERSION:04d}_failure_reason" == HEAD_REVISION  # the newest migration file
    assert query(url, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


def test_password_from_url_and_pgpassword_is_never_shown(pg_server, monkeypatch, tmp_path) -> None:
    name = pg_server.new_database().split("@/")[1].split("?")[0]
    url = pg_server.url(name, user="drx_pw", password=PASSWORD)
    store = open_store(url)
    assert PASSWORD not in store.name and "***" in store.name
    store.engine.dispose()
    with pytest.raises(StoreError) as err:
        open_store(pg_server.url(name, user="drx_pw", password="wrong-password"))
    msg = str(err.value)
    assert "password authentication failed" in msg and "wrong-password" not in msg and "\n" not in msg
    assert str(pg_server.port) in msg and repr(name) in msg
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    store = open_store(pg_server.url(name, user="drx_pw"))
    assert schema_version(store) == SCHEMA_VERSION
    store.engine.dispose()
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"*:*:*:drx_pw:{PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    open_store(pg_server.url(name, user="drx_pw")).engine.dispose()


def test_display_url_masks_the_password() -> None:
    assert display_url("postgresql+psycopg://u:pw1234@h:5/db") == "postgresql+psycopg://u:***@h:5/db"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.url("no_such_db"), 'database "no_such_db" does not exist'),
        (lambda s: s.url().replace(f"port={s.port}", "port=1"), "No such file or directory"),
        (lambda s: "postgresql://u@127.0.0.1:1/db", "Connection refused"),
    ],
)
def test_unreachable_server_or_missing_database_is_one_clear_line(pg_server, change, expected) -> None:
    with pytest.raises(StoreError) as err:
        open_store(change(pg_server))
    msg = str(err.value)
    assert msg.startswith("cannot connect to PostgreSQL server") and expected in msg and "\n" not in msg


def test_foreign_database_is_refused_and_left_alone(pg_server) -> None:
    url = pg_server.new_database()
    query(url, "SELECT 1")
    name = url.split("@/")[1].split("?")[0]
    pg_server.admin("CREATE TABLE inventory (id int primary key, what text)", dbname=name)
    with pytest.raises(StoreError, match="not a drxlab store"):
        open_store(url)
    tables = {r[0] for r in query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"inventory"}


def test_newer_schema_is_refused(pg_server) -> None:
    url = pg_server.new_database()
    open_store(url).engine.dispose()
    name = url.split("@/")[1].split("?")[0]
    newer = SCHEMA_VERSION + 1
    pg_server.admin(f"UPDATE meta SET value = '{newer}' WHERE key = 'schema_version'", dbname=name)
    with pytest.raises(StoreError, match="newer than this drxlab supports"):
        open_store(url)


def test_read_only_open_does_not_create_a_store(pg_server) -> None:
    url = pg_server.new_database()
    with pytest.raises(StoreError, match="drxlab init"):
        open_store(url, create=False)
    assert query(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_cli_never_prints_or_records_the_password(pg_server, tmp_path) -> None:
    from click.testing import CliRunner

    from drxlab.cli.main import cli
    from tests.factories import write_drx_td

    name = pg_server.new_database().split("@/")[1].split("?")[0]
    url = pg_server.url(name, user="drx_pw", password=PASSWORD)
    runner = CliRunner()
    outputs = [runner.invoke(cli, ["--db", url, "init"]).output]
    write_drx_td(tmp_path / "t.json")
    outputs.append(runner.invoke(cli, ["--db", url, "import", str(tmp_path / "t.json")]).output)
    outputs.append(runner.invoke(cli, ["db", "copy", url, str(tmp_path / "copy.sqlite")]).output)
    outputs.append(runner.invoke(cli, ["--db", url, "db", "check"]).output)
    bad = pg_server.url(name, user="drx_pw", password=PASSWORD + "x")
    outputs.append(runner.invoke(cli, ["--db", bad, "tests"]).output)
    assert "store ready" in outputs[0] and "password authentication failed" in outputs[-1]
    assert all(PASSWORD not in out for out in outputs), outputs
    audit = query(url, 'SELECT command, args_json, "user", host FROM auditlog')
    assert audit and all(PASSWORD not in str(row) for row in audit)


def test_writers_queue_on_the_advisory_lock_and_a_held_lock_is_reported(pg_server, monkeypatch) -> None:
    import threading
    import time

    import psycopg

    from drxlab.store import db, postgres
    from drxlab.store.tables import Meta

    url = pg_server.new_database()
    store = open_store(url)
    name = url.split("@/")[1].split("?")[0]
    holder = psycopg.connect(host=str(pg_server.root), port=pg_server.port, user="postgres", dbname=name)
    holder.execute(
        f"SELECT pg_advisory_xact_lock({postgres.WRITE_LOCK_KEY})"
    )  # another writer, mid-transaction
    done = []

    def write() -> None:
        with store.transaction() as s:
            s.add(Meta(key="probe", value="1"))
        done.append(time.monotonic())

    t = threading.Thread(target=write)
    t.start()
    time.sleep(1.0)
    assert not done  # waits for the lock instead of failing or writing beside the other writer
    released = time.monotonic()
    holder.rollback()
    t.join(30)
    assert done and done[0] >= released
    assert query(url, "SELECT value FROM meta WHERE key = 'probe'") == [("1",)]
    # a lock held past every retry: one clear error, nothing written
    holder.execute(f"SELECT pg_advisory_xact_lock({postgres.WRITE_LOCK_KEY})")
    monkeypatch.setattr("drxlab.store.sqlite.BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 200)
    with pytest.raises(StoreError, match="locked by another process"), store.transaction() as s:
        s.add(Meta(key="probe2", value="1"))
    holder.rollback()
    holder.close()
    store.engine.dispose()
    assert query(url, "SELECT count(*) FROM meta WHERE key = 'probe2'") == [(0,)]
