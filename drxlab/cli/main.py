"""Entry point: the `drxlab` group, the shared store option and error reporting.

Every command opens the store the same way (``--db`` / ``$DRXLAB_DB`` / ``db/drxlab.sqlite``)
and reports a :class:`~drxlab.exceptions.DrxlabError` as one ``Error:`` line with exit code 1.
"""
from __future__ import annotations

import sys

import click

from drxlab import __version__
from drxlab.exceptions import DrxlabError
from drxlab.store.db import Store, open_store


class Context:
    """Lazily opened store shared by the commands of one invocation."""

    def __init__(self, db: str | None, quiet: bool = False) -> None:
        self.db = db
        # --quiet silences progress bars and informational stderr lines, never errors or results
        self.quiet = quiet
        self._store: Store | None = None

    def store(self, create: bool = True) -> Store:
        """The store, opened on first use and named on stderr (unless --quiet or --json).

        ``create=False`` for commands that only read: a missing store is an error naming the
        path it looked for, never a new empty file.
        """
        if self._store is None:
            from drxlab.store.db import describe_url, resolve_url, sqlite_path

            path = sqlite_path(resolve_url(self.db))
            new = create and path is not None and not path.exists()
            self._store = open_store(self.db, create=create)
            if not self.quiet and not _json_output():
                click.echo(f"store: {describe_url(self._store.url)}" + (" (created)" if new else ""), err=True)
        return self._store


def _json_output() -> bool:
    """True when the running command was asked for --json (stdout then carries JSON only)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.params.get("as_json"))


class DrxlabGroup(click.Group):
    """A click group that turns drxlab errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except DrxlabError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


pass_ctx = click.make_pass_decorator(Context)


@click.group(cls=DrxlabGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", envvar="DRXLAB_DB", default=None, metavar="URL|PATH",
              help="Experiment store: a SQLite path or any SQLAlchemy URL [default: db/drxlab.sqlite; env DRXLAB_DB].")
@click.option("-q", "--quiet", is_flag=True, envvar="DRXLAB_QUIET",
              help="No progress bars or informational messages on stderr (errors and results still print).")
@click.version_option(__version__, prog_name="drxlab")
@click.pass_context
def cli(ctx: click.Context, db: str | None, quiet: bool) -> None:
    """drxlab — decide which disordered-rocksalt (DRX) cathodes to make next.

    Keeps your syntheses and coin-cell discharge profiles, trains and fine-tunes the DRXNet
    ensemble on them, and ranks candidate compositions by predicted capacity (mAh/g) and its
    uncertainty σ_Q.
    """
    ctx.obj = Context(db, quiet)


def _register() -> None:
    from drxlab.cli import data_cmds  # noqa: F401  (commands attach themselves to `cli`)

    for name in ("model_cmds", "lab_cmds", "campaign_cmds", "loop_cmds", "report_cmds", "db_cmds", "bench_cmds",
                 "sim_cmds"):
        try:
            __import__(f"drxlab.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"drxlab.cli.{name}":
                raise


_register()
