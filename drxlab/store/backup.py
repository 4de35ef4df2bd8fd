"""Backups, restores and health checks of the experiment store.

A backup is always a SQLite file: portable, self-contained, itself a store. A SQLite store is
copied with SQLite's online backup API (:meth:`sqlite3.Connection.backup`), a PostgreSQL store
with drxlab's own verified row-by-row copy from one snapshot (:mod:`drxlab.store.transfer`;
``pg_dump`` is not needed). Either way a consistent snapshot even while other processes write.
A copy is written to a temporary file beside its destination, checked with
``PRAGMA integrity_check`` and only then moved into place, so a backup file either is complete
and sound or does not exist.

Example::

        report = backup(store, Path("lab-2025-01-31.sqlite"))
        report.rows["profile"]
        # -> 1200
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel, select

from drxlab.exceptions import StoreError
from drxlab.store import postgres, sqlite
from drxlab.store.db import HEAD_REVISION, Store, open_store, sqlite_path
from drxlab.store.tables import (
    SCHEMA_VERSION,
    CurrentModel,
    ElectrochemTest,
    ModelVersion,
    Profile,
    Sample,
    SourceFile,
    Suggestion,
)


@dataclass(frozen=True)
class CopyReport:
    """A checked database file: path, size (bytes), schema version and rows per table."""

    path: Path
    size: int
    schema_version: int
    rows: dict[str, int]
    integrity: str = "ok"


@dataclass
class CheckReport:
    """Problems found by :func:`check` (empty = healthy) and what was checked."""

    problems: list[str] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------- files
def _store_path(store: Store | Path | str) -> Path:
    path = store.path if isinstance(store, Store) else sqlite_path(str(store)) or Path(store)
    if path is None:
        raise StoreError(f"{store.name} is not a SQLite file")
    return path


def verify(path: Path) -> CopyReport:
    """Check a database file (integrity, drxlab schema version) and count its rows."""
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such database file")
    try:
        con = sqlite.connect(Path(path).resolve())
        try:
            problems = sqlite.integrity(con)
            if problems:
                raise StoreError(f"{path} fails PRAGMA integrity_check: {'; '.join(problems[:5])}")
            rows, version = sqlite.counts(con), sqlite.version(con)
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a readable SQLite database ({exc})") from None
    if "meta" not in rows or version < 1:
        raise StoreError(f"{path} is not a drxlab store (no schema version in table meta)")
    return CopyReport(Path(path), Path(path).stat().st_size, version, rows)


copy_database = sqlite.copy_file  # the name before PostgreSQL stores


# ---------------------------------------------------------------- backup and restore
def _snapshot_to_file(store: Store | Path | str, dest: Path) -> None:
    """A consistent copy of the store in a new SQLite file ``dest``: SQLite's backup API for a
    SQLite store, drxlab's verified row-by-row copy (:mod:`drxlab.store.transfer`) for others."""
    if isinstance(store, Store) and store.path is None:
        from drxlab.store.transfer import copy_store

        target = None
        try:
            target = open_store(sqlite.url_of(dest))
            copy_store(store, target)
        except BaseException:
            for leftover in (dest, dest.with_name(dest.name + "-wal"), dest.with_name(dest.name + "-shm")):
                leftover.unlink(missing_ok=True)
            raise
        finally:
            if target is not None:
                target.engine.dispose()
        sqlite.make_self_contained(dest)
        return
    sqlite.copy_file(_store_path(store), dest)


def backup(store: Store | Path | str, dest: Path, *, force: bool = False) -> CopyReport:
    """Copy the store to a new SQLite file ``dest`` (``force`` replaces an existing one) and verify it.

    Any store (SQLite or PostgreSQL) backs up to a SQLite file: portable, one file, and itself
    a store that ``drxlab --db FILE`` opens.
    """
    src = store.path if isinstance(store, Store) else _store_path(store)
    dest = Path(dest).expanduser().resolve()
    if src is not None and dest == src.resolve():
        raise StoreError(f"backup target {dest} is the store itself")
    if dest.is_dir():
        raise StoreError(f"backup target {dest} is a directory; give a file name")
    if dest.exists() and not force:
        raise StoreError(f"backup target {dest} exists", option="force", option_use="to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = sqlite.free_name(dest.with_name(f"{dest.name}.new"))
    _snapshot_to_file(store, staged)
    try:
        report = verify(staged)
        if force:
            os.replace(staged, dest)
        else:
            os.link(staged, dest)  # fails rather than overwrite a file that appeared meanwhile
    except (OSError, StoreError) as exc:
        raise StoreError(f"backup to {dest} failed: {exc}") from None
    finally:
        staged.unlink(missing_ok=True)
    return CopyReport(dest, dest.stat().st_size, report.schema_version, report.rows)


def _check_source(source: Path) -> CopyReport:
    report = verify(Path(source))
    if report.schema_version > SCHEMA_VERSION:
        raise StoreError(
            f"{source} has schema version {report.schema_version}, newer than this drxlab "
            f"supports ({SCHEMA_VERSION}); upgrade drxlab to restore it"
        )
    return report


def restore(store: Store | Path, source: Path, *, force: bool = False) -> tuple[CopyReport, Path | None]:
    """Replace the store's contents with a verified backup file.

    A SQLite store is overwritten through the backup API; an existing one with data needs
    ``force`` and its contents are first saved to ``<file>.pre-restore-<UTC time>.bak``
    (returned); a backup with an older schema is migrated the next time the store is opened.
    A PostgreSQL store gets the backup's rows through drxlab's verified copy (a copy of the
    backup file is migrated first, the file itself is never changed); with ``force`` its
    previous contents are saved beside the backup file as ``<backup>.pre-restore-<time>.sqlite``.
    """
    if isinstance(store, Store) and store.path is None:
        return _restore_server(store, Path(source), force)
    store_path = Path(store.path if isinstance(store, Store) else store).resolve()
    report = _check_source(Path(source))
    if Path(source).resolve() == store_path:
        raise StoreError(f"{source} is the store itself")
    saved = None
    if store_path.exists() and store_path.stat().st_size > 0:
        if not force:
            raise StoreError(
                f"{store_path} exists",
                option="force",
                option_use=f"to replace its contents with {source} (a copy of the current contents is kept)",
            )
        saved = sqlite.free_name(store_path.with_name(f"{store_path.name}.pre-restore-{_stamp()}.bak"))
        sqlite.copy_file(store_path, saved)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        problems = sqlite.restore_file(Path(source).resolve(), store_path)
    except sqlite3.Error as exc:
        kept = f"; the previous contents are in {saved}" if saved else ""
        raise StoreError(f"restoring {source} into {store_path} failed: {exc}{kept}") from None
    if problems:
        raise StoreError(f"{store_path} fails integrity_check after the restore: {problems[:3]}")
    return CopyReport(store_path, store_path.stat().st_size, report.schema_version, report.rows), saved


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _restore_server(store: Store, source: Path, force: bool) -> tuple[CopyReport, Path | None]:
    import tempfile

    from drxlab.store.transfer import copy_store, is_empty

    report = _check_source(source)
    with store.engine.connect() as conn:
        empty = is_empty(conn)
    saved = None
    if not empty:
        if not force:
            raise StoreError(
                f"{store.name} holds data",
                option="force",
                option_use=f"to replace its contents with {source} (a copy of the current contents is kept)",
            )
        saved = sqlite.free_name(source.resolve().with_name(f"{source.name}.pre-restore-{_stamp()}.sqlite"))
        backup(store, saved)
    with tempfile.TemporaryDirectory(prefix="drxlab-restore-") as tmp:
        work = Path(tmp) / "restore.sqlite"
        sqlite.copy_file(source.resolve(), work)  # opening migrates it: never touch the user's file
        src = open_store(work, create=False)
        try:
            copy_store(src, store, force=True)
        except StoreError as exc:
            kept = f"; the previous contents are in {saved}" if saved else ""
            raise StoreError(f"restoring {source} into {store.name} failed: {exc}{kept}") from None
        finally:
            src.engine.dispose()
    return CopyReport(source, source.stat().st_size, report.schema_version, report.rows), saved


# ---------------------------------------------------------------- health check
def check(store: Store, *, load_model: Callable[[ModelVersion], Any] | None = None) -> CheckReport:
    """The database's own checks, schema version, and drxlab's own invariants.

    SQLite: ``PRAGMA integrity_check`` and ``foreign_key_check``. PostgreSQL: every foreign key
    verified by query, constraints validated, B-tree indexes through ``amcheck`` if installed.
    ``load_model`` (e.g. :func:`drxlab.workflow.models.load`) is tried on every current model
    version; any exception it raises is a problem.
    """
    rep = CheckReport()
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            rep.checked["integrity_check"], problems = sqlite.engine_problems(conn)
        else:
            problems = _foreign_key_problems(conn)
            if store.dialect == "postgresql":
                rep.checked["server_checks"], more = postgres.engine_problems(conn)
                problems += more
        rep.problems += problems
        version = conn.execute(text("SELECT value FROM meta WHERE key='schema_version'")).scalar()
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    rep.checked["schema_version"] = version
    if str(version) != str(SCHEMA_VERSION):
        rep.problems.append(f"schema version is {version}; this drxlab expects {SCHEMA_VERSION}")
    if revision != HEAD_REVISION:
        rep.problems.append(f"migration revision is {revision}; expected {HEAD_REVISION}")
    with store.reader() as s:
        _check_rows(s, rep)
        _check_models(s, rep, load_model)
    return rep


def _foreign_key_problems(conn: Connection) -> list[str]:
    """Rows whose foreign key names a missing parent, for every foreign key of every table."""
    problems = []
    for table in SQLModel.metadata.sorted_tables:
        for fk in table.foreign_keys:
            child, parent = fk.parent, fk.column
            p = parent.table.alias("p")
            orphan = (
                select(table.c.id if "id" in table.c else child)
                .where(child.is_not(None))
                .where(~select(p.c[parent.name]).where(p.c[parent.name] == child).exists())
            )
            for (key,) in conn.execute(orphan).all():
                problems.append(
                    f"foreign key: {table.name} row {key} refers to a missing {parent.table.name} row"
                )
    return problems


def _check_rows(s: Session, rep: CheckReport) -> None:
    empty = s.exec(
        select(ElectrochemTest.id).where(
            ~select(Profile.id).where(Profile.test_id == ElectrochemTest.id).exists()
        )
    ).all()
    rep.problems += [f"test {t} has no profiles" for t in empty]
    orphans = s.exec(
        select(SourceFile.id, SourceFile.name).where(
            ~select(ElectrochemTest.id).where(ElectrochemTest.source_sha256 == SourceFile.sha256).exists()
        )
    ).all()
    rep.problems += [
        f"source file {i} ({name}) is recorded as imported but has no tests" for i, name in orphans
    ]
    lengths = (func.length(Profile.voltage), func.length(Profile.capacity_curve), func.length(Profile.dqdv))
    for pid, lv, lq, ld in s.exec(select(Profile.id, *lengths)).all():
        if not (lv == lq == ld) or lv % 8 or lv < 16:
            rep.problems.append(f"profile {pid} has arrays of inconsistent size ({lv}, {lq}, {ld} bytes)")
    for sid, sample_id in s.exec(
        select(Suggestion.id, Suggestion.sample_id).where(
            ~select(Sample.id).where(Sample.id == Suggestion.sample_id).exists()
        )
    ).all():
        rep.problems.append(f"suggestion {sid} refers to sample {sample_id}, which does not exist")
    rep.checked["tests"] = s.exec(select(func.count(ElectrochemTest.id))).one()
    rep.checked["profiles"] = s.exec(select(func.count(Profile.id))).one()
    rep.checked["suggestions"] = s.exec(select(func.count(Suggestion.id))).one()


def _check_models(s: Session, rep: CheckReport, load_model: Callable[[ModelVersion], Any] | None) -> None:
    ids = s.exec(select(ModelVersion.id).order_by(ModelVersion.id)).all()
    for vid in ids:  # one blob in memory at a time
        row = s.get(ModelVersion, vid)
        if hashlib.sha256(row.weights).hexdigest() != row.sha256:
            rep.problems.append(f"model version {vid} ({row.sha256[:12]}): weights do not match their sha256")
        s.expunge(row)
    rep.checked["model_versions"] = len(ids)
    current = {c.scope: c.version_id for c in s.exec(select(CurrentModel))}
    loaded = 0
    for scope, vid in sorted(current.items()):
        row = s.get(ModelVersion, vid)
        label = f"current model of {'campaign ' + repr(scope) if scope else 'the lab'} (version {vid})"
        if row is None:
            rep.problems.append(f"{label} does not exist")
        elif load_model is not None:
            try:
                load_model(row)
                loaded += 1
            except Exception as exc:
                rep.problems.append(f"{label} cannot be loaded: {exc}")
    rep.checked["current_models_loaded"] = loaded
