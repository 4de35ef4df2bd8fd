"""Merging stores whose ids overlap (one SQLite store per simulated campaign) into one store.

Each source store numbers its rows from 1, so rows get new ids in the merged store and every
foreign key is mapped to the new id of the row it pointed to. Rows that are the same thing in
two stores are kept once: a material (one per formula), a model version or a source file (one
per sha256); the merged store's own ``meta`` rows stay, and the first source's
``currentmodel`` row of a scope wins (a per-campaign scope appears in one source only).

All or nothing: the merged store is written to a temporary file next to ``dest`` in one
transaction and moved into place only when every source has been copied; on any error ``dest``
is left as it was.

Example::

        counts = merge_stores(["out/campaigns/a.sqlite", "out/campaigns/b.sqlite"], "out/simulation.sqlite")
        counts["sample"]
        # -> 48
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from drxlab.exceptions import StoreError
from drxlab.store.db import open_store
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
        with out._writer.begin() as conn:
            for src in sources:
                _merge_one(conn, Path(src))
            counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in tables()}
        out.engine.dispose()
        os.replace(tmp, dest)
    finally:
        out.engine.dispose()
        _remove(tmp)
    return counts


def _merge_one(conn: Connection, path: Path) -> None:
    src = open_store(path, create=False)
    try:
        ids: dict[str, dict] = {}
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


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)
