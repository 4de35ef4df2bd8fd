"""Store maintenance commands: db backup / restore / check; registers the audit-log source."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.render import echo_json, table
from drxlab.exceptions import StoreError
from drxlab.store import backup as backups
from drxlab.store.db import describe_url, resolve_url, set_audit_source, sqlite_path


def _click_command() -> tuple[str, dict[str, Any]]:
    """The running command's path and its parameters (``--db`` left out), for the audit log."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return "", {}
    args: dict[str, Any] = {}
    node: click.Context | None = ctx
    while node is not None:
        args = {**{k: v for k, v in node.params.items() if k != "db"}, **args}
        node = node.parent
    return ctx.command_path, args


set_audit_source(_click_command)


@cli.group()
def db() -> None:
    """Back up, restore and check the experiment store (your campaign's only record)."""


def _render(rep: backups.CopyReport, what: str, as_json: bool) -> None:
    if as_json:
        return echo_json({"path": str(rep.path), "bytes": rep.size, "schema_version": rep.schema_version,
                          "integrity_check": rep.integrity, "rows": rep.rows})
    click.echo(f"{what} {rep.path}: {rep.size / 1e6:.2f} MB, schema version {rep.schema_version}, "
               f"integrity_check {rep.integrity}")
    click.echo(table(sorted(rep.rows.items()), ["table", "rows"]))


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_ctx
def backup_(obj: Context, path: str, force: bool, as_json: bool) -> None:
    """Copy the store to a new file PATH (safe while others write), then verify the copy
    (PRAGMA integrity_check) and report its size and row counts."""
    rep = backups.backup(obj.store(create=False), Path(path), force=force)
    _render(rep, "backup written to", as_json)


@db.command()
@click.argument("backup_file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace the contents of an existing store (needed unless the store "
              "does not exist yet; the current contents are saved first).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_ctx
def restore(obj: Context, backup_file: str, force: bool, as_json: bool) -> None:
    """Replace the store's contents with BACKUP_FILE (verified first). The current contents
    are kept as <store>.pre-restore-<time>.bak."""
    path = sqlite_path(resolve_url(obj.db))
    if path is None:
        raise StoreError("db restore works on SQLite stores only; restore other databases with their own tools")
    if not obj.quiet and not as_json:
        click.echo(f"store: {path}", err=True)
    rep, saved = backups.restore(path, Path(backup_file), force=force)
    if saved:
        click.echo(f"previous contents saved to {saved}", err=True)
    _render(rep, "restored", as_json)


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_ctx
def check(obj: Context, as_json: bool) -> None:
    """Check the store: SQLite integrity and foreign keys, schema version, every test has
    profiles, every model version matches its sha256 and the current ones load, every
    suggestion's sample exists. Exits non-zero listing every problem."""
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
        raise StoreError(f"{len(rep.problems)} problem(s) found in {describe_url(store.url)}")
    if not as_json:
        click.echo(f"{describe_url(store.url)}: no problems found")
