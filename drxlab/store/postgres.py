"""Everything PostgreSQL-specific about the store: the psycopg 3 URL, the write lock, error
messages and the server's own checks.

Writers serialise on one transaction-scoped advisory lock (``pg_advisory_xact_lock``), taken
as a write transaction begins: the same guarantee SQLite's ``BEGIN IMMEDIATE`` gives, so a
command's read-then-write logic (is this file already imported? next campaign revision?) never
races another writer, and the concurrency guarantees are the same on both backends. Readers
take no lock. Waiting for the lock is bounded by ``lock_timeout``; a timeout, deadlock or
serialisation failure at that point is retried a few times by :class:`drxlab.store.db.Store`.
"""

from __future__ import annotations

import re

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import create_engine

from drxlab.exceptions import StoreError

WRITE_LOCK_KEY = 0x64_72_78_6C_61_62  # "drxlab": one advisory lock per database for every writer
RETRYABLE = {"55P03", "40P01", "40001"}  # lock_not_available, deadlock_detected, serialization_failure


def is_postgres(url: str) -> bool:
    return url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (SQLAlchemy would pick psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def _on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("drxlab_begin") == "IMMEDIATE":
        from drxlab.store.sqlite import BUSY_TIMEOUT_MS

        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {BUSY_TIMEOUT_MS}")
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


def make_engine(url: str) -> Engine:
    """An engine whose sessions run in UTC (timestamps are stored without zone, as on SQLite)
    and whose write transactions take the drxlab write lock."""
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        raise StoreError("PostgreSQL needs the psycopg 3 driver: pip install 'drxlab[postgres]'") from None
    engine = create_engine(url, connect_args={"options": "-c timezone=UTC"}, pool_pre_ping=False)
    event.listen(engine, "begin", _on_begin)
    return engine


def is_retryable(exc: BaseException) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in RETRYABLE


def server_name(url: str) -> str:
    """'host:port/database as user' of a URL, never its password (socket dirs come from ?host=)."""
    try:
        u = make_url(url)
    except ArgumentError:
        return "the PostgreSQL server"
    host = u.host or u.query.get("host") or "localhost (default socket)"
    if isinstance(host, tuple):
        host = ",".join(host)
    port = u.port or u.query.get("port") or 5432
    database, user = u.database or "(default)", u.username or "(default)"
    return f"PostgreSQL server {host}:{port}, database {database!r}, user {user!r}"


def connect_error(url: str, exc: BaseException) -> str:
    """One line: which server and what failed (connection refused, bad password, no database …)."""
    raw = str(getattr(exc, "orig", None) or exc)
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    reasons = []
    for ln in lines:
        # libpq: 'connection to server at "h" (1.2.3.4), port 5 failed: FATAL:  database "x" does not exist'
        m = re.search(r".*failed:\s*(?:FATAL:\s*)?(.*)$", ln)
        reason = (m.group(1) if m else ln).strip()
        if reason and not reason.lower().startswith("is the server running") and reason not in reasons:
            reasons.append(reason)
    return f"cannot connect to {server_name(url)}: {'; '.join(reasons) or raw}"


def is_connect_error(exc: BaseException) -> bool:
    """A failure to open the connection at all (as opposed to an SQL error once connected)."""
    # libpq reports a failed connection (refused, unknown host, bad password) without an SQLSTATE;
    # every error the server sends once connected carries one
    orig = getattr(exc, "orig", None)
    return isinstance(exc, OperationalError) and orig is not None and getattr(orig, "sqlstate", "") is None


def engine_problems(conn: Connection) -> tuple[str, list[str]]:
    """What the server itself can verify: constraints not validated, and B-tree index structure
    through ``amcheck`` when that extension is installed (it is optional)."""
    problems = []
    for table, name in conn.execute(
        text(
            "SELECT c.conrelid::regclass::text, c.conname FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema() "
            "AND NOT c.convalidated"
        )
    ).all():
        problems.append(f"constraint {name} on {table} is not validated")
    has_amcheck = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'")).scalar()
    if not has_amcheck:
        return "constraints validated (amcheck not installed)", problems
    indexes = conn.execute(
        text(
            "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.amname = 'btree' AND n.nspname = current_schema()"
        )
    ).all()
    for oid, name in indexes:
        try:
            with conn.begin_nested():
                conn.execute(text("SELECT bt_index_check(:oid)"), {"oid": oid})
        except Exception as exc:
            problems.append(f"index {name}: {getattr(exc, 'orig', exc)}")
    return f"constraints validated, {len(indexes)} indexes checked by amcheck", problems


def reset_sequences(conn: Connection, tables: list[str]) -> None:
    """After rows were copied with their ids, the next id of each table follows the largest one."""
    for name in tables:
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": f'"{name}"'}).scalar()
        if seq:
            conn.execute(
                text(f'SELECT setval(:s, COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM "{name}"'),
                {"s": seq},
            )
