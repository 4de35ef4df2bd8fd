"""Everything SQLite-specific about the store, and nothing else: pragmas, ``BEGIN IMMEDIATE``,
the online backup API and ``PRAGMA integrity_check``.

The rest of :mod:`drxlab.store` is written for any backend (SQLAlchemy constructs); where SQLite
needs its own SQL, it lives here (PostgreSQL's counterpart is :mod:`drxlab.store.postgres`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import create_engine

from drxlab.exceptions import StoreError

BUSY_TIMEOUT_MS = 60_000  # how long a writer waits for another's write lock


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def url_of(path: Path) -> str:
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def _on_connect(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # the driver's implicit BEGIN is off; _on_begin emits it
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _on_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE for write transactions (execution option ``drxlab_begin``), else BEGIN."""
    mode = conn.get_execution_options().get("drxlab_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """An engine with drxlab's pragmas and explicit (transactional DDL) BEGIN."""
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def is_locked(exc: BaseException) -> bool:
    """A busy or locked database (SQLite's primary result codes, extended ones included)."""
    code = getattr(getattr(exc, "orig", exc), "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def engine_problems(conn: Connection) -> tuple[str, list[str]]:
    """(integrity_check summary, problems) from ``PRAGMA integrity_check`` and ``foreign_key_check``."""
    rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").fetchall()]
    summary = rows[0] if rows == ["ok"] else f"{len(rows)} problem(s)"
    problems = [f"integrity_check: {r}" for r in rows if r != "ok"]
    for table, rowid, parent, _fk in conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall():
        problems.append(f"foreign key: {table} row {rowid} refers to a missing {parent} row")
    return summary, problems


# ---------------------------------------------------------------- raw files (backup API)
def connect(path: Path) -> sqlite3.Connection:
    # read-write even to read: a read-only handle cannot open a WAL database whose -shm is absent
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return con


def integrity(con: sqlite3.Connection) -> list[str]:
    """Problems reported by ``PRAGMA integrity_check`` (empty = sound)."""
    rows = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def counts(con: sqlite3.Connection) -> dict[str, int]:
    names = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {n: con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def version(con: sqlite3.Connection) -> int:
    try:
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.DatabaseError:
        return 0
    return int(row[0]) if row else 0


def make_self_contained(path: Path) -> None:
    """Switch a file out of WAL mode so that it is one file with nothing beside it."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def copy_file(src: Path, dest: Path) -> None:
    """Snapshot ``src`` into a new file ``dest`` with the online backup API (single file, fsynced)."""
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        source = connect(src)
        target = sqlite3.connect(tmp, isolation_level=None)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # a self-contained file: no -wal beside it
        finally:
            target.close()
            source.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.link(tmp, dest)  # fails if dest appeared meanwhile: never overwrite here
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot copy {src} to {dest}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def restore_file(source: Path, dest: Path) -> list[str]:
    """Copy ``source`` over the contents of ``dest`` page by page; integrity problems of the result."""
    src = connect(source)
    dst = connect(dest)
    try:
        src.backup(dst)
        return integrity(dst)
    finally:
        dst.close()
        src.close()


def free_name(path: Path) -> Path:
    """``path``, or ``path`` with ``.1``, ``.2`` … before the suffix if it exists."""
    if not path.exists():
        return path
    k = 1
    while (cand := path.with_name(f"{path.stem}.{k}{path.suffix}")).exists():
        k += 1
    return cand
