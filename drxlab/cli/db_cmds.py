"""Store maintenance commands: db backup / restore / check / copy; registers the audit-log source."""

from __future__ import annotations

from pathlib import Path

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.render import echo_json, table
from drxlab.exceptions import StoreError
from drxlab.store import backup as backups
from drxlab.store.db import open_store, resolve_url, sqlite_path


@cli.group()
def db() -> None:
    """Back up, restore, check and copy the experiment store (your campaign's only record).

    Works on SQLite files and PostgreSQL servers alike; backups are always one SQLite file."""


def _render(rep: backups.CopyReport, what: str, as_json: bool) -> None:
    if as_json:
        return echo_json(
            {
                "path": str(rep.path),
                "bytes": rep.size,
                "schema_version": rep.schema_version,
                "integrity_check": rep.integrity,
                "rows": rep.rows,
            }
        )
    click.echo(
        f"{what} {rep.path}: {rep.size / 1e6:.2f} MB, schema version {rep.schema_version}, "
        f"integrity_check {rep.integrity}"
    )
    click.echo(table(sorted(rep.rows.items()), ["table", "rows"]))


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_ctx
def backup_(obj: Context, path: str, force: bool, as_json: bool) -> None:
    """Copy the store to a new SQLite file PATH (safe while others write), then verify the copy
    (PRAGMA integrity_check) and report its size and row counts.

    A SQLite store is copied with SQLite's backup API; a PostgreSQL store with drxlab's own
    dump (every row, blob and model version from one snapshot, checked by sha256; pg_dump is
    not used or needed). Either file restores into SQLite or PostgreSQL with `db restore`."""
    rep = backups.backup(obj.store(create=False), Path(path), force=force)
    _render(rep, "backup written to", as_json)


@db.command()
@click.argument("backup_file", type=click.Path(dir_okay=False))
@click.option(
    "--force",
    is_flag=True,
    help="Replace the contents of an existing store (needed unless the store "
    "does not exist yet; the current contents are saved first).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_ctx
def restore(obj: Context, backup_file: str, force: bool, as_json: bool) -> None:
    """Replace the store's contents with BACKUP_FILE (a `db backup` file, verified first).

    The current contents are kept: as <store>.pre-restore-<time>.bak for a SQLite store, as
    BACKUP_FILE.pre-restore-<time>.sqlite for a PostgreSQL store (which gets the backup's rows
    through drxlab's verified copy)."""
    path = sqlite_path(resolve_url(obj.db))
    if path is not None and not obj.quiet and not as_json:
        click.echo(f"store: {path}", err=True)
    # a SQLite file is replaced whole (it may not exist yet); a PostgreSQL store gets the rows
    target = path if path is not None else obj.store(create=True)
    rep, saved = backups.restore(target, Path(backup_file), force=force)
    if saved:
        click.echo(f"previous contents saved to {saved}", err=True)
    _render(rep, "restored", as_json)


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_ctx
def check(obj: Context, as_json: bool) -> None:
    """Check the store: the database's own checks (SQLite: integrity_check and foreign keys;
    PostgreSQL: every foreign key by query, unvalidated constraints, B-tree indexes by amcheck
    when installed), schema version, every test has profiles, every model version matches its
    sha256 and the current ones load, every suggestion's sample exists. Exits non-zero listing
    every problem."""
    from drxlab.workflow.models import load

    store = obj.store(create=False)
    rep = backups.check(store, load_model=load)
    if as_json:
        echo_json({"ok": rep.ok, "problems": rep.problems, "checked": rep.checked})
    else:
        click.echo(table(sorted(rep.checked.items()), ["checked", "result"]))
        for p in rep.problems:
            click.echo(f"problem: {p}")
    if not rep.ok:
        raise StoreError(f"{len(rep.problems)} problem(s) found in {store.name}")
    if not as_json:
        click.echo(f"{store.name}: no problems found")


@db.command("copy")
@click.argument("source", metavar="SRC")
@click.argument("dest", metavar="DST")
@click.option("--force", is_flag=True, help="Replace every row of a DST store that already holds data.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_ctx
def copy_(obj: Context, source: str, dest: str, force: bool, as_json: bool) -> None:
    """Copy a whole store from SRC to DST (SQLite path or URL, e.g. postgresql://user@server/lab):
    every sample, test, profile, campaign, suggestion, model version and audit entry, with
    their ids. DST is created if needed and must be empty unless --force. The copy is verified
    (row counts and a sha256 per table) before it is committed; otherwise nothing is written.

    Moves a lab from a laptop's SQLite file to a shared PostgreSQL server and back."""
    from drxlab.store.transfer import copy_store

    src = open_store(source, create=False)
    dst = open_store(dest, create=True)

    def progress(table: str, n: int) -> None:
        if not obj.quiet:
            click.echo(f"copied {table}: {n} rows", err=True)

    try:
        rep = copy_store(src, dst, force=force, progress=progress)
    finally:
        src.engine.dispose()
        dst.engine.dispose()
    if as_json:
        return echo_json(
            {
                "source": rep.source,
                "destination": rep.destination,
                "schema_version": rep.schema_version,
                "rows": rep.rows,
                "sha256": rep.digests,
            }
        )
    click.echo(
        f"copied {rep.source} to {rep.destination}: {sum(rep.rows.values())} rows, "
        "every table verified (row count and sha256)"
    )
    rows = sorted((k, rep.rows[k], rep.digests[k][:16]) for k in rep.rows)
    click.echo(table(rows, ["table", "rows", "sha256"]))
