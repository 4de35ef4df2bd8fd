"""Backups, restores and health checks of a SQLite experiment store.

Copies use SQLite's online backup API (:meth:`sqlite3.Connection.backup`): a consistent
snapshot even while other processes write. A copy is written to a temporary file beside its
destination, checked with ``PRAGMA integrity_check`` and only then moved into place, so a
backup file either is complete and sound or does not exist.

Example:
    >>> report = backup(store, Path("lab-2025-01-31.sqlite"))   # doctest: +SKIP
    >>> report.rows["profile"]                                   # doctest: +SKIP
    1200
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
from sqlmodel import Session, select

from drxlab.exceptions import StoreError
from drxlab.store.db import BUSY_TIMEOUT_MS, HEAD_REVISION, Store, describe_url, sqlite_path
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


# ---------------------------------------------------------------- raw SQLite helpers
def _connect(path: Path) -> sqlite3.Connection:
    # read-write even to read: a read-only handle cannot open a WAL database whose -shm is absent
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return con


def _store_path(store: Store | Path | str) -> Path:
    path = store.path if isinstance(store, Store) else sqlite_path(str(store)) or Path(store)
    if path is None:
        raise StoreError(f"{describe_url(store.url)} is not a SQLite file; back it up with the database's own tools")
    return path


def free_name(path: Path) -> Path:
    """``path``, or ``path`` with ``.1``, ``.2`` … before the suffix if it exists."""
    if not path.exists():
        return path
    k = 1
    while (cand := path.with_name(f"{path.stem}.{k}{path.suffix}")).exists():
        k += 1
    return cand


def integrity(con: sqlite3.Connection) -> list[str]:
    """Problems reported by ``PRAGMA integrity_check`` (empty = sound)."""
    rows = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def _counts(con: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {n: con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def _version(con: sqlite3.Connection) -> int:
    try:
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.DatabaseError:
        return 0
    return int(row[0]) if row else 0


def verify(path: Path) -> CopyReport:
    """Check a database file (integrity, drxlab schema version) and count its rows."""
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such database file")
    try:
        con = _connect(Path(path).resolve())
        try:
            problems = integrity(con)
            if problems:
                raise StoreError(f"{path} fails PRAGMA integrity_check: {'; '.join(problems[:5])}")
            rows, version = _counts(con), _version(con)
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a readable SQLite database ({exc})") from None
    if "meta" not in rows or version < 1:
        raise StoreError(f"{path} is not a drxlab store (no schema version in table meta)")
    return CopyReport(Path(path), Path(path).stat().st_size, version, rows)


def copy_database(src: Path, dest: Path) -> None:
    """Snapshot ``src`` into a new file ``dest`` with the online backup API (single file, fsynced)."""
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        source = _connect(src)
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


# ---------------------------------------------------------------- backup and restore
def backup(store: Store | Path | str, dest: Path, *, force: bool = False) -> CopyReport:
    """Copy the store to a new file ``dest`` (``force`` replaces an existing one) and verify it."""
    src = _store_path(store)
    dest = Path(dest).expanduser().resolve()
    if dest == src.resolve():
        raise StoreError(f"backup target {dest} is the store itself")
    if dest.is_dir():
        raise StoreError(f"backup target {dest} is a directory; give a file name")
    if dest.exists() and not force:
        raise StoreError(f"backup target {dest} exists; pass --force to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = free_name(dest.with_name(f"{dest.name}.new"))
    copy_database(src, staged)
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


def restore(store_path: Path, source: Path, *, force: bool = False) -> tuple[CopyReport, Path | None]:
    """Replace the store's contents with a verified backup, via the backup API.

    An existing store with data needs ``force``; its contents are first saved to
    ``<file>.pre-restore-<UTC time>.bak`` (returned). A backup with an older schema is
    migrated the next time the store is opened.
    """
    store_path = Path(store_path).resolve()
    report = verify(Path(source))
    if report.schema_version > SCHEMA_VERSION:
        raise StoreError(f"{source} has schema version {report.schema_version}, newer than this drxlab "
                         f"supports ({SCHEMA_VERSION}); upgrade drxlab to restore it")
    if Path(source).resolve() == store_path:
        raise StoreError(f"{source} is the store itself")
    saved = None
    if store_path.exists() and store_path.stat().st_size > 0:
        if not force:
            raise StoreError(f"{store_path} exists; pass --force to replace its contents with {source} "
                             "(a copy of the current contents is kept)")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        saved = free_name(store_path.with_name(f"{store_path.name}.pre-restore-{stamp}.bak"))
        copy_database(store_path, saved)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = _connect(Path(source).resolve())
        dst = _connect(store_path)
        try:
            src.backup(dst)
            problems = integrity(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        kept = f"; the previous contents are in {saved}" if saved else ""
        raise StoreError(f"restoring {source} into {store_path} failed: {exc}{kept}") from None
    if problems:
        raise StoreError(f"{store_path} fails integrity_check after the restore: {problems[:3]}")
    return CopyReport(store_path, store_path.stat().st_size, report.schema_version, report.rows), saved


# ---------------------------------------------------------------- health check
def check(store: Store, *, load_model: Callable[[ModelVersion], Any] | None = None) -> CheckReport:
    """SQLite integrity and foreign keys, schema version, and drxlab's own invariants.

    ``load_model`` (e.g. :func:`drxlab.workflow.models.load`) is tried on every current model
    version; any exception it raises is a problem.
    """
    rep = CheckReport()
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").fetchall()]
            rep.checked["integrity_check"] = rows[0] if rows == ["ok"] else f"{len(rows)} problem(s)"
            rep.problems += [f"integrity_check: {r}" for r in rows if r != "ok"]
            for table, rowid, parent, _fk in conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall():
                rep.problems.append(f"foreign key: {table} row {rowid} refers to a missing {parent} row")
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


def _check_rows(s: Session, rep: CheckReport) -> None:
    empty = s.exec(select(ElectrochemTest.id).where(
        ~select(Profile.id).where(Profile.test_id == ElectrochemTest.id).exists())).all()
    rep.problems += [f"test {t} has no profiles" for t in empty]
    orphans = s.exec(select(SourceFile.id, SourceFile.name).where(
        ~select(ElectrochemTest.id).where(ElectrochemTest.source_sha256 == SourceFile.sha256).exists())).all()
    rep.problems += [f"source file {i} ({name}) is recorded as imported but has no tests" for i, name in orphans]
    lengths = (func.length(Profile.voltage), func.length(Profile.capacity_curve), func.length(Profile.dqdv))
    for pid, lv, lq, ld in s.exec(select(Profile.id, *lengths)).all():
        if not (lv == lq == ld) or lv % 8 or lv < 16:
            rep.problems.append(f"profile {pid} has arrays of inconsistent size ({lv}, {lq}, {ld} bytes)")
    for sid, sample_id in s.exec(select(Suggestion.id, Suggestion.sample_id).where(
            ~select(Sample.id).where(Sample.id == Suggestion.sample_id).exists())).all():
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
            except Exception as exc:  # noqa: BLE001 — any failure to deserialise is a finding, not a crash
                rep.problems.append(f"{label} cannot be loaded: {exc}")
    rep.checked["current_models_loaded"] = loaded
