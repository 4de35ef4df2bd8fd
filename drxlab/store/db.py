"""Opening the experiment store: URL resolution, SQLite pragmas, schema version, transactions.

Every command works inside one :meth:`Store.transaction`: either everything it wrote is
committed, or nothing is.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine, select

from drxlab.exceptions import StoreError
from drxlab.store import tables
from drxlab.store.tables import SCHEMA_VERSION, Meta

DEFAULT_PATH = Path("db") / "drxlab.sqlite"
ENV_VAR = "DRXLAB_DB"
BUSY_TIMEOUT_MS = 60_000


def resolve_url(db: str | os.PathLike | None = None) -> str:
    """SQLAlchemy URL from ``--db``, ``$DRXLAB_DB`` or the default ``db/drxlab.sqlite``.

    A plain path means SQLite at that path.
    """
    value = str(db) if db else os.environ.get(ENV_VAR) or str(DEFAULT_PATH)
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 (DBAPI connection)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Store:
    """An open experiment store (engine + schema check)."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine

    @property
    def path(self) -> Path | None:
        """File path of a SQLite store (None for other databases)."""
        if self.url.startswith("sqlite:///"):
            return Path(self.url[len("sqlite:///"):])
        return None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose changes are committed on success and rolled back on any error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only session (never commits)."""
        # closing (not rolling back) keeps loaded rows readable after the block
        with Session(self.engine, expire_on_commit=False, autoflush=False) as session:
            yield session


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy's BEGIN be a real BEGIN IMMEDIATE-free deferred transaction; writers
        # wait on the busy timeout rather than failing with "database is locked".
        return engine
    return create_engine(url)


def open_store(db: str | os.PathLike | None = None, *, create: bool = True) -> Store:
    """Open (and by default create) the store; refuse a newer schema than this drxlab knows."""
    url = resolve_url(db)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.exists():
            if not create:
                raise StoreError(f"no database at {path}; run `drxlab init` or pass --db")
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = _make_engine(url)
        existing = set(inspect(engine).get_table_names())
    except Exception as exc:
        raise StoreError(f"cannot open database {url}: {exc}") from None
    if "meta" in existing:
        with Session(engine) as s:
            row = s.get(Meta, "schema_version")
        version = int(row.value) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database {url} has schema version {version}, newer than this drxlab supports "
                f"({SCHEMA_VERSION}); upgrade drxlab to open it"
            )
    elif existing and "material" not in existing:
        raise StoreError(f"database {url} is not a drxlab store (tables: {sorted(existing)[:5]})")
    if "meta" not in existing or len(existing) < len(SQLModel.metadata.tables):
        SQLModel.metadata.create_all(engine)
        with Session(engine) as s:
            if s.get(Meta, "schema_version") is None:
                s.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                s.commit()
    return Store(url, engine)


def schema_version(store: Store) -> int:
    """The schema version recorded in the store."""
    with store.reader() as s:
        row = s.exec(select(Meta).where(Meta.key == "schema_version")).first()
    return int(row.value) if row else 0


__all__ = ["Store", "open_store", "resolve_url", "schema_version", "tables"]
