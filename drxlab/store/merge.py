"""Merging stores whose ids overlap (one SQLite store per simulated campaign) into one store.

Each source store numbers its rows from 1, so rows get new ids in the merged store and every
foreign key is mapped to the new id of the row it pointed to. Rows that are the same thing in
two stores are kept once: a material (one per formula), a model version or a source file (one
per sha256); the merged store's own ``meta`` rows stay, and the first source's
``currentmodel`` row of a scope wins (a per-campaign scope appears in one source only).

A campaign revision can be in several sources: the starting data of a simulated seed are in
the store of every strategy's task of that seed. It is kept once when its campaign file (spec
hash) is the same, and so are the rows that hang from it (its samples, their tests and
profiles), each matched to an identical row already merged (every column but the id and
timestamps). Rows that differ mean two different campaigns under one name: the merge fails.

All or nothing: the merged store is written to a temporary file next to ``dest`` in one
transaction and moved into place only when every source has been copied; on any error ``dest``
is left as it was. :func:`merge_into` merges into an open store (a local simulation's, or with
:func:`merge_into_server` a lab's PostgreSQL database) in one transaction instead, rolled back
on any error.

Example::

        counts = merge_stores(["out/campaigns/a.sqlite", "out/campaigns/b.sqlite"], "out/simulation.sqlite")
        counts["sample"]
        # -> 48
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import DateTime, func, insert, select
from sqlalchemy.engine import Connection

from drxlab.exceptions import StoreError
from drxlab.store.db import Store, open_store
from drxlab.store.transfer import _rows, _snapshot, tables

SAME_THING = {"material": "formula", "modelversion": "sha256", "sourcefile": "sha256"}
FIRST_WINS = {"meta": "key", "currentmodel": "scope"}


def merge_stores(sources: Sequence[str | os.PathLike], dest: str | os.PathLike) -> dict[str, int]:
    """Merge the SQLite stores ``sources`` (in this order) into a new store at ``dest``.

    Returns rows per table in the merged store. Raises :class:`StoreError` (``dest`` untouched)
    when a source cannot be read or two sources hold the same campaign revision.
    """
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.merging")
    _remove(tmp)
    out = open_store(tmp)
    try:
        counts = merge_into(sources, out)
        out.engine.dispose()
        os.replace(tmp, dest)
    finally:
        out.engine.dispose()
        _remove(tmp)
    return counts


def merge_into(sources: Sequence[str | os.PathLike], store: Store) -> dict[str, int]:
    """Merge the SQLite stores ``sources`` (in this order) into the open ``store`` in one
    transaction.

    Its rows count as an earlier source: a material or model version it holds is reused, and a
    campaign revision it already holds is kept once when the rows are the same (merging the same
    simulation again adds no campaign), else the merge fails. On any error the transaction is
    rolled back and the store is left as it was. Returns rows per table afterwards.
    """
    with store._writer.begin() as conn:
        for src in sources:
            _merge_one(conn, Path(src))
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables()}


def merge_into_server(sources: Sequence[str | os.PathLike], url: str) -> dict[str, int]:
    """:func:`merge_into` the existing store at ``url`` (a lab's PostgreSQL database; created
    when blank)."""
    out = open_store(url)
    try:
        return merge_into(sources, out)
    finally:
        out.engine.dispose()


def _merge_one(conn: Connection, path: Path) -> None:
    src = open_store(path, create=False)
    try:
        ids: dict[str, dict] = {}
        shared: dict[str, set[int]] = {}  # merged ids of rows this source shares with an earlier one
        with _snapshot(src) as sconn:
            for table in tables():
                new_ids = ids.setdefault(table.name, {})
                key = SAME_THING.get(table.name) or FIRST_WINS.get(table.name)
                for batch in _rows(sconn, table):
                    for row in batch:
                        d = dict(row._mapping)
                        for fk in table.foreign_keys:
                            if d[fk.parent.name] is not None:
                                d[fk.parent.name] = ids[fk.column.table.name][d[fk.parent.name]]
                        if table.name == "campaign":
                            same = _same_campaign(conn, table, d, path)
                            if same is not None:
                                new_ids[d["id"]] = same
                                shared.setdefault(table.name, set()).add(same)
                                continue
                        elif any(
                            d[fk.parent.name] in shared.get(fk.column.table.name, ())
                            for fk in table.foreign_keys
                        ):
                            same = _identical(conn, table, d, path, shared.get(table.name, set()))
                            new_ids[d["id"]] = same
                            shared.setdefault(table.name, set()).add(same)
                            continue
                        found = None
                        if key is not None:
                            col = table.c[key]
                            found = conn.execute(select(table).where(col == d[key])).first()
                        if table.name in FIRST_WINS and found is not None:
                            continue
                        if table.name in SAME_THING and found is not None:
                            new_ids[d["id"]] = found.id
                            continue
                        if "id" not in table.c:
                            conn.execute(insert(table).values(**d))
                            continue
                        old = d.pop("id")
                        res = conn.execute(insert(table).values(**d))
                        new_ids[old] = res.inserted_primary_key[0]
    except StoreError:
        raise
    except Exception as exc:  # an integrity error names the table and row; say which source
        raise StoreError(f"cannot merge {path}: {type(exc).__name__}: {exc}") from None
    finally:
        src.engine.dispose()


def _same_campaign(conn: Connection, table, d: dict, path: Path) -> int | None:
    """The merged id of this campaign revision when an earlier source brought it (same spec hash)."""
    found = conn.execute(
        select(table).where(table.c.name == d["name"], table.c.revision == d["revision"])
    ).first()
    if found is None:
        return None
    if found.spec_hash != d["spec_hash"]:
        raise StoreError(
            f"cannot merge {path}: campaign {d['name']!r} revision {d['revision']} has another "
            "campaign file than the one already merged"
        )
    return found.id


def _identical(conn: Connection, table, d: dict, path: Path, claimed: set[int]) -> int:
    """The merged id of the first row equal to ``d`` (keys already mapped) in every column but
    the id and timestamps that no earlier row of this source was matched to (two equal samples
    stay two); a shared campaign's row that differs is an error."""
    cols = [c for c in table.c if c.name != "id" and not _timestamp(c)]
    match = [c == d[c.name] for c in cols] + [table.c.id.notin_(claimed)]
    found = conn.execute(select(table.c.id).where(*match).order_by(table.c.id)).first()
    if found is None:
        raise StoreError(
            f"cannot merge {path}: its {table.name} row {d.get('id')} belongs to a campaign an earlier "
            "store (or the target database) also holds, but differs from that store's rows"
        )
    return found.id


def _timestamp(column) -> bool:
    # a TypeDecorator (SQLModel's UTCDateTime) wraps the DateTime it stores as
    return isinstance(getattr(column.type, "impl_instance", column.type), DateTime)


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
