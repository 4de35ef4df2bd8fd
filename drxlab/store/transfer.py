"""Copying a whole store between databases (SQLite ↔ PostgreSQL), verified row by row.

Every table is copied with its ids, blobs and timestamps, in foreign-key order, inside one
write transaction of the destination; the source is read from one snapshot. Before that
transaction commits, each table's row count and sha256 over its rows (ordered by primary key,
values in a canonical form) must equal the source's, or nothing is written. The same digest
is drxlab's *logical dump*: two stores with equal digests hold the same data, whatever the backend.

Example::

        rep = copy_store("lab.sqlite", "postgresql://lab@db-server/drx")
        rep.rows["modelversion"]
        # -> 3
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, inspect, select
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from drxlab.exceptions import StoreError
from drxlab.store import postgres
from drxlab.store.db import Store, make_engine, open_store, resolve_url
from drxlab.store.tables import SCHEMA_VERSION

SKIP = {"alembic_version"}  # equal in two stores at the same schema version; each keeps its own
BATCH_ROWS = 500
BLOB_BATCH_ROWS = 1  # model weights: one blob in memory at a time


@dataclass(frozen=True)
class TransferReport:
    """A verified copy: source and destination (passwords masked), rows and sha256 per table."""

    source: str
    destination: str
    schema_version: int
    rows: dict[str, int]
    digests: dict[str, str]


def tables() -> list[Table]:
    """drxlab's tables, parents before children."""
    return [t for t in SQLModel.metadata.sorted_tables if t.name not in SKIP]


def _encode(value: Any) -> bytes:
    """A canonical, backend-independent byte form of a column value."""
    if value is None:
        return b"N"
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        return b"I" + str(value).encode()
    if isinstance(value, float):
        return b"R" + struct.pack("<d", value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"B" + bytes(value)
    if isinstance(value, datetime):
        return b"D" + value.replace(tzinfo=None).isoformat().encode()
    return b"S" + str(value).encode()


def _hash_row(h: Any, row: tuple) -> None:
    for value in row:
        enc = _encode(value)
        h.update(struct.pack("<Q", len(enc)))
        h.update(enc)


def _rows(conn: Connection, table: Table) -> Iterator[list]:
    """The table's rows in primary-key order, in batches."""
    size = BLOB_BATCH_ROWS if table.name == "modelversion" else BATCH_ROWS
    result = conn.execution_options(stream_results=True).execute(
        select(table).order_by(*table.primary_key.columns)
    )
    yield from result.partitions(size)


def digest(conn: Connection, table: Table) -> tuple[int, str]:
    """(row count, sha256 over the rows in primary-key order) of one table."""
    h, n = hashlib.sha256(), 0
    for batch in _rows(conn, table):
        for row in batch:
            _hash_row(h, tuple(row))
            n += 1
    return n, h.hexdigest()


def logical_dump(store: Store) -> dict[str, tuple[int, str]]:
    """Table → (rows, sha256) of drxlab's tables present: equal dumps mean the same data in any
    two stores, whatever their backends."""
    with _snapshot(store) as conn:
        present = set(inspect(conn).get_table_names())
        return {t.name: digest(conn, t) for t in tables() if t.name in present}


def logical_dump_url(url: str | os.PathLike) -> dict[str, tuple[int, str]]:
    """:func:`logical_dump` of the store at a path or URL, opened as it is (never created or migrated)."""
    url = resolve_url(url)
    store = Store(url, make_engine(url))
    try:
        return logical_dump(store)
    finally:
        store.engine.dispose()


class _snapshot:
    """A read-only connection on one consistent snapshot of the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> Connection:
        engine = self.store.engine
        if self.store.dialect == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        self.conn = engine.connect()
        self.conn.begin()
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback()
        self.conn.close()


def is_empty(conn: Connection) -> bool:
    """No rows in any table but ``meta`` (a freshly initialised store)."""
    return all(
        conn.execute(select(func.count()).select_from(t)).scalar() == 0 for t in tables() if t.name != "meta"
    )


def copy_store(
    src: str | os.PathLike | Store,
    dst: str | os.PathLike | Store,
    *,
    force: bool = False,
    progress: Any = None,
) -> TransferReport:
    """Copy every row of ``src`` into ``dst`` (created if needed) and verify the copy.

    ``dst`` must hold an empty store unless ``force`` (then its rows are replaced). ``progress``
    is called as ``progress(table_name, rows_copied)`` after each table. Raises
    :class:`StoreError` and writes nothing if the copy does not verify.
    """
    opened: list[Store] = []

    def use(ref: str | os.PathLike | Store, create: bool) -> Store:
        if isinstance(ref, Store):
            return ref
        opened.append(open_store(ref, create=create))  # ours to close: no pooled connection outlives the copy
        return opened[-1]

    try:
        return _copy(use(src, False), use(dst, True), force, progress)
    finally:
        for store in opened:
            store.engine.dispose()


def _copy(source: Store, dest: Store, force: bool, progress: Any) -> TransferReport:
    if resolve_url(source.url) == resolve_url(dest.url):
        raise StoreError(f"source and destination are the same store ({source.name})")
    rows, digests = {}, {}
    with _snapshot(source) as sconn, dest._writer.begin() as dconn:
        if not force and not is_empty(dconn):
            raise StoreError(
                f"{dest.name} already holds data",
                option="force",
                option_use=f"to replace all of it with {source.name}",
            )
        for table in reversed(tables()):
            dconn.execute(delete(table))
        for table in tables():
            h, n = hashlib.sha256(), 0
            for batch in _rows(sconn, table):
                dicts = [dict(row._mapping) for row in batch]
                for row in batch:
                    _hash_row(h, tuple(row))
                dconn.execute(insert(table), dicts)
                n += len(dicts)
            rows[table.name], digests[table.name] = n, h.hexdigest()
            if progress is not None:
                progress(table.name, n)
        if dest.dialect == "postgresql":
            postgres.reset_sequences(dconn, [t.name for t in tables() if "id" in t.c])
        for table in tables():
            got = digest(dconn, table)
            if got != (rows[table.name], digests[table.name]):
                want = f"{rows[table.name]} rows, {digests[table.name][:12]}"
                raise StoreError(
                    f"copy of table {table.name} does not verify ({got[0]} rows, sha256 "
                    f"{got[1][:12]}; source {want}); nothing was written to {dest.name}"
                )
    return TransferReport(source.name, dest.name, SCHEMA_VERSION, rows, digests)
