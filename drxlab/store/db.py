"""Opening the experiment store: URL resolution, schema migrations, transactions.

The store is a SQLite file or a PostgreSQL database (psycopg 3); backend-specific SQL lives in
:mod:`drxlab.store.sqlite` and :mod:`drxlab.store.postgres`, everything here is portable.

Every command works inside one :meth:`Store.transaction`: either everything it wrote is
committed, or nothing is. A write transaction takes the store's write lock before its first
read (SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``pg_advisory_xact_lock``), so concurrent writers
queue instead of failing, and none acts on a read another writer is about to invalidate.

Opening a store brings its schema to this drxlab's version: a new database is created at the
head revision and stamped; an older one is upgraded by the Alembic migrations in
``drxlab/store/migrations`` (in one transaction; a SQLite file is first copied to
``<file>.pre-migration-<version>.bak``); a newer one is refused.
"""

from __future__ import annotations

import getpass
import json
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, insert, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine, select

from drxlab.exceptions import DrxlabError, StoreError
from drxlab.store import postgres, sqlite, tables
from drxlab.store.sqlite import BUSY_TIMEOUT_MS
from drxlab.store.tables import SCHEMA_VERSION, AuditLog, Meta, dumps

DEFAULT_PATH = Path("db") / "drxlab.sqlite"
ENV_VAR = "DRXLAB_DB"
LOCK_RETRIES = 3  # write-lock attempts after a timeout / deadlock (each waits up to BUSY_TIMEOUT_MS)
MIGRATIONS = Path(__file__).with_name("migrations")
# schema version → Alembic revision
REVISIONS: dict[int, str] = {1: "0001_initial", 2: "0002_audit_log", 3: "0003_failure_reason"}
HEAD_REVISION = REVISIONS[SCHEMA_VERSION]

AuditSource = Callable[[], "tuple[str, dict[str, Any]]"]
_audit_source: AuditSource | None = None


def resolve_url(db: str | os.PathLike | None = None) -> str:
    """SQLAlchemy URL from ``--db``, ``$DRXLAB_DB`` or the default ``db/drxlab.sqlite``.

    A plain path means SQLite at that path; ``postgresql://`` means PostgreSQL through psycopg 3.
    """
    value = str(db) if db else os.environ.get(ENV_VAR) or str(DEFAULT_PATH)
    if "://" in value:
        return postgres.normalise_url(value)
    return sqlite.url_of(Path(value))


def display_url(url: str) -> str:
    """The URL as it may be shown: a password in it is masked (``***``)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@", 1)[-1] if "@" in url else url


def describe_url(url: str) -> str:
    """A store URL for messages: the file path of SQLite, any other URL with its password masked."""
    path = sqlite_path(url)
    return str(path) if path is not None else display_url(url)


def sqlite_path(url: str) -> Path | None:
    """File path of a SQLite URL (None for in-memory SQLite and other databases)."""
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return Path(url[len("sqlite:///") :])
    return None


def make_engine(url: str) -> Engine:
    """An engine with the backend's connection settings and write lock (see module docstring)."""
    if sqlite.is_sqlite(url):
        return sqlite.make_engine(url)
    if postgres.is_postgres(url):
        return postgres.make_engine(url)
    return create_engine(url)


def set_audit_source(source: AuditSource | None) -> None:
    """Register what describes the running command for the audit log: ``() -> (command, args)``.

    The CLI registers one reading click's current context; library calls are logged with
    command ``""``.
    """
    global _audit_source
    _audit_source = source


def _is_locked(exc: BaseException) -> bool:
    return sqlite.is_locked(exc) or postgres.is_retryable(exc)


class Store:
    """An open experiment store (engine + schema check)."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._writer = engine.execution_options(drxlab_begin="IMMEDIATE")

    @property
    def path(self) -> Path | None:
        """File path of a SQLite store (None for other databases)."""
        return sqlite_path(self.url)

    @property
    def name(self) -> str:
        """What to call the store in messages: its file, or its URL with the password masked."""
        return describe_url(self.url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql`` (SQLAlchemy's dialect name)."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose changes are committed on success and rolled back on any error.

        The write lock is taken at the start (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
        ``pg_advisory_xact_lock``; waits up to
        :data:`BUSY_TIMEOUT_MS`, retried :data:`LOCK_RETRIES` times). A transaction that wrote
        anything also writes one :class:`~drxlab.store.tables.AuditLog` row.
        """
        with Session(self._writer, expire_on_commit=False) as session:
            self._begin(session)
            changes = _track_changes(session)
            try:
                yield session
                session.flush()
                if changes:
                    session.add(_audit_row(changes))
                session.commit()
            except BaseException as exc:
                session.rollback()
                if isinstance(exc, OperationalError):
                    raise StoreError(
                        f"could not write to {self._where()}: {exc.orig}; nothing was written"
                    ) from exc
                raise

    def _begin(self, session: Session) -> None:
        for attempt in range(LOCK_RETRIES):
            try:
                session.connection()
                return
            except OperationalError as exc:
                session.rollback()
                if not _is_locked(exc):
                    raise StoreError(f"cannot open a transaction on {self._where()}: {exc.orig}") from exc
                if attempt == LOCK_RETRIES - 1:
                    raise StoreError(
                        f"{self._where()} is locked by another process (waited "
                        f"{LOCK_RETRIES * BUSY_TIMEOUT_MS / 1000:.0f} s); try again when it has finished"
                    ) from exc
                time.sleep(0.05 * (2**attempt) * (1 + random.random()))

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only session (never commits)."""
        # closing (not rolling back) keeps loaded rows readable after the block
        with Session(self.engine, expire_on_commit=False, autoflush=False) as session:
            yield session

    def _where(self) -> str:
        return self.name


def _track_changes(session: Session) -> dict[str, list[int]]:
    """Table name → [inserted, updated, deleted] rows, filled by the session's flushes."""
    changes: dict[str, list[int]] = {}

    def count(sess: Session, _ctx: Any, _instances: Any) -> None:
        for kind, objs in enumerate((sess.new, sess.dirty, sess.deleted)):
            for obj in objs:
                name = getattr(obj, "__tablename__", type(obj).__name__)
                if name == AuditLog.__tablename__ or (kind == 1 and not sess.is_modified(obj)):
                    continue
                changes.setdefault(str(name), [0, 0, 0])[kind] += 1

    event.listen(session, "before_flush", count)
    return changes


def _audit_row(changes: dict[str, list[int]]) -> AuditLog:
    from drxlab import __version__

    command, args = "", {}
    if _audit_source is not None:
        try:
            command, args = _audit_source()
        except Exception:
            command, args = "", {}
    try:
        user = getpass.getuser()
    except Exception:
        user = ""
    return AuditLog(
        command=command,
        args_json=json.dumps(args, sort_keys=True, default=str),
        changes_json=dumps(changes),
        user=user,
        host=socket.gethostname(),
        drxlab_version=__version__,
    )


# ---------------------------------------------------------------- schema: create, upgrade, refuse
def alembic_config(connection: Connection | None = None):
    """Alembic config built in code (no alembic.ini): script location = the package's migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _state(conn: Connection) -> tuple[set[str], int | None]:
    """(table names, schema version recorded in ``meta`` or None)."""
    names = set(inspect(conn).get_table_names())
    if "meta" not in names:
        return names, None
    value = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
    if value is None:
        return names, None
    try:
        return names, int(value)
    except ValueError:
        raise StoreError(f"schema version {value!r} in table meta is not an integer") from None


def _is_blank(conn: Connection, names: set[str]) -> bool:
    """No tables, or only empty drxlab tables (a creation interrupted by an older drxlab)."""
    known = set(SQLModel.metadata.tables) | {"alembic_version"}
    if not names <= known:
        return False
    return all(conn.execute(text(f'SELECT COUNT(*) FROM "{n}"')).scalar() == 0 for n in names)


def _check(url: str, conn: Connection, names: set[str], version: int | None) -> None:
    if version is None:
        if _is_blank(conn, names):
            return
        if "material" in names:
            raise StoreError(
                f"database {url} has drxlab tables but no schema version in table meta; "
                "it may be damaged: run `drxlab db check`, or restore it from a backup"
            )
        raise StoreError(f"database {url} is not a drxlab store (tables: {sorted(names)[:5]})")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database {url} has schema version {version}, newer than this drxlab supports "
            f"({SCHEMA_VERSION}); upgrade drxlab to open it"
        )
    if version not in REVISIONS:
        raise StoreError(f"database {url} has schema version {version}; known versions: {sorted(REVISIONS)}")


def _create(conn: Connection) -> None:
    from alembic import command

    SQLModel.metadata.create_all(conn)
    meta = Meta.__table__
    conn.execute(delete(meta).where(meta.c.key == "schema_version"))
    conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
    command.stamp(alembic_config(conn), HEAD_REVISION)


def _upgrade(store: Store, conn: Connection, names: set[str], version: int) -> None:
    from alembic import command

    saved = None
    if store.path is not None:
        saved = sqlite.free_name(store.path.with_name(f"{store.path.name}.pre-migration-{version}.bak"))
        sqlite.copy_file(store.path, saved)
    cfg = alembic_config(conn)
    try:
        if "alembic_version" not in names:
            command.stamp(cfg, REVISIONS[version])
        command.upgrade(cfg, HEAD_REVISION)
        _, now = _state(conn)
        if now != SCHEMA_VERSION:
            raise StoreError(f"the migrations left schema version {now}, expected {SCHEMA_VERSION}")
    except Exception as exc:
        kept = f"; a copy from before is at {saved}" if saved else ""
        reason = getattr(exc, "orig", None) or exc
        raise StoreError(
            f"upgrading {store.name} from schema version {version} to {SCHEMA_VERSION} failed "
            f"({reason}); the database is unchanged{kept}"
        ) from exc


def _prepare(store: Store, create: bool = True) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION` (create / upgrade) or refuse the database."""
    with store.engine.connect() as conn:
        names, version = _state(conn)
        _check(store.name, conn, names, version)
    if version == SCHEMA_VERSION:
        return
    if version is None and not create and store.path is None:
        raise StoreError(
            f"{store.name} holds no drxlab store yet; run `drxlab init`",
            option="db",
            option_use="(or set $DRXLAB_DB) to open another store",
        )
    with store._writer.begin() as conn:  # the write lock: one process creates or upgrades
        names, version = _state(conn)
        _check(store.name, conn, names, version)
        if version is None:
            _create(conn)
        elif version < SCHEMA_VERSION:
            _upgrade(store, conn, names, version)


def open_store(db: str | os.PathLike | None = None, *, create: bool = True) -> Store:
    """Open (and by default create) the store at the current schema; refuse a newer schema."""
    url = resolve_url(db)
    shown = describe_url(url)
    path = sqlite_path(url)
    if path is not None and path.is_dir():
        raise StoreError(
            f"store {path} is a folder, not a database file; give a file path such as "
            f"{path / DEFAULT_PATH.name}"
        )
    if path is not None and not path.exists():
        if not create:
            given = (
                f"as given{' by $' + ENV_VAR if not db else ''}"
                if db or os.environ.get(ENV_VAR)
                else f"the default {DEFAULT_PATH} in {Path.cwd()}"
            )
            raise StoreError(
                f"no store at {path} ({given}); create it with `drxlab init`",
                option="db",
                option_use=f"(or set ${ENV_VAR}) to name an existing store",
            )
        if path.parent.exists() and not path.parent.is_dir():
            raise StoreError(f"cannot create the store {path}: {path.parent} is a file, not a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
    shown = display_url(url)
    try:
        store = Store(url, make_engine(url))
    except DrxlabError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot open database {shown}: {_masked(exc, url)}") from None
    try:
        _prepare(store, create)
    except DrxlabError:
        store.engine.dispose()
        raise
    except SQLAlchemyError as exc:
        store.engine.dispose()
        if postgres.is_postgres(url) and postgres.is_connect_error(exc):
            raise StoreError(_masked(postgres.connect_error(url, exc), url)) from None
        reason = _masked(getattr(exc, "orig", None) or exc, url)
        raise StoreError(f"cannot open database {shown}: {reason}") from None
    return store


def _masked(message: object, url: str) -> str:
    """``message`` with the URL's password (if any) replaced by ``***``."""
    text_ = str(message)
    try:
        password = make_url(url).password
    except ArgumentError:
        return text_
    # a very short password would mask unrelated letters; libpq never echoes passwords anyway
    return text_.replace(str(password), "***") if password and len(str(password)) >= 4 else text_


def schema_version(store: Store) -> int:
    """The schema version recorded in the store."""
    with store.reader() as s:
        row = s.exec(select(Meta).where(Meta.key == "schema_version")).first()
    return int(row.value) if row else 0


__all__ = [
    "Store",
    "describe_url",
    "open_store",
    "resolve_url",
    "schema_version",
    "set_audit_source",
    "tables",
]
