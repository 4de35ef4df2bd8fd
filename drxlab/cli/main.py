"""Entry point: the `drxlab` group, the shared store option and error reporting.

Every command opens the store the same way (``--db`` / ``$DRXLAB_DB`` / ``db/drxlab.sqlite``)
and reports a :class:`~drxlab.exceptions.DrxlabError` as one ``Error:`` line with exit code 1.

Commands live in ``drxlab/cli/*_cmds.py`` and are imported only when run (:data:`COMMANDS`), so
``drxlab --help`` or ``drxlab status`` never pays for torch, BoTorch or matplotlib.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import TYPE_CHECKING, Any

import click

from drxlab import __version__
from drxlab.exceptions import DrxlabError

if TYPE_CHECKING:
    from drxlab.store.db import Store

# command -> (module under drxlab.cli that defines it, its one-line help for `drxlab --help`);
# tests/cli/test_lazy_cli.py keeps the help equal to each command's docstring
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": (
        "bench_cmds",
        ("Measure drxlab's speed (compositions/s, seconds) against baselines in the same run."),
    ),
    "campaign": ("campaign_cmds", "Register and list campaign files (TOML in campaigns/)."),
    "candidates": (
        "campaign_cmds",
        ("Charge-balanced candidate compositions of a campaign's space (Li, metals, O, F grid)."),
    ),
    "db": ("db_cmds", "Back up, restore, check and copy the experiment store (your campaign's only record)."),
    "demo": ("demo_cmds", "See drxlab work in about three minutes."),
    "evaluate": (
        "loop_cmds",
        (
            "Composition-split test of the DRXNet recipe (as in the paper's Figure 3): train on some classes,"
            " report capacity (2.0–4.4 V) and average-voltage MAE on others against the MAD baseline."
        ),
    ),
    "export": (
        "data_cmds",
        ("Export standardised profiles as a DRXNet point CSV (V, mAh/g, mAh/g/V; re-importable)."),
    ),
    "finetune": (
        "loop_cmds",
        (
            "Update the current ensemble with the profiles it has not seen (with replay of old data); "
            "registers a new version whose parent is the current one."
        ),
    ),
    "import": (
        "data_cmds",
        (
            "Import discharge data: DRXNet point CSVs, DRX-TD JSON files (or directories of them) and cycler "
            "files: BioLogic .mpr/.mpt, Neware .nda/.ndax/CSV, Arbin .res/CSV/XLSX, Maccor, Landt, "
            "or any CSV "
            "with time, voltage and current columns."
        ),
    ),
    "inspect": (
        "inspect_cmds",
        (
            "Show what drxlab reads from cycler files (BioLogic, Neware, Arbin, Maccor, Landt, "
            "CSV): format and "
            "reader, header facts, column units, each discharge with its voltage range and capacity "
            "(mAh, and "
            "mAh/g with a mass), and what was left out and why."
        ),
    ),
    "init": ("data_cmds", "Create the experiment store (or check an existing one)."),
    "lab": (
        "lab_cmds",
        ('The virtual DRX lab: "synthesise and cycle" compositions with an oracle (flagged virtual).'),
    ),
    "log": (
        "loop_cmds",
        (
            "Log the measured first cycle(s) of a sample (FILE: DRXNet CSV, DRX-TD JSON or cycler export), or"
            " a failed synthesis/cell with --failed."
        ),
    ),
    "materials": (
        "data_cmds",
        ("List materials (normalised formula, class, oxidation states, number of tests)."),
    ),
    "model": ("model_cmds", "Manage DRXNet ensemble versions (released checkpoints, trained, fine-tuned)."),
    "predict": (
        "model_cmds",
        ("Predict the discharge capacity (mAh/g) ± σ_Q of compositions with the DRXNet ensemble."),
    ),
    "report": (
        "report_cmds",
        (
            "Write a campaign report: best-so-far by round, prospective parity, σ calibration, measured vs "
            "predicted curves, composition map, suggestion / lineage / inventory tables."
        ),
    ),
    "simulate": (
        "sim_cmds",
        (
            "Run whole virtual campaigns per strategy and seed (suggest → measure → log → fine-tune) and "
            "compare how fast each finds the true top 1 % of the candidate space."
        ),
    ),
    "status": (
        "loop_cmds",
        ("Samples by state, what is waiting for results, and the current model with its lineage."),
    ),
    "suggest": (
        "campaign_cmds",
        (
            "Suggest the next compositions to synthesise: screens the campaign's whole candidate space with "
            "the DRXNet ensemble, ranks by the acquisition function and records the suggestions as proposed "
            "samples."
        ),
    ),
    "tests": ("data_cmds", "List electrochemical tests with conditions and first-cycle capacity."),
    "train": (
        "loop_cmds",
        (
            "Train a new DRXNet ensemble from scratch on the store's measured profiles (some "
            "compositions held out "
            "for validation; needs data of at least 5 compositions)."
        ),
    ),
}


def quiet_third_party_warnings() -> None:
    """Keep third-party warnings out of a command's output, so a failure prints only its ``Error:`` line.

    Each is about the libraries' own internals, not about the user's data: pymatgen warns on
    unusual oxidation-state guesses and on its own config; SciPy's spline fitting warns when a
    measured segment is hard to smooth (drxlab checks the fitted profile itself); torch and
    BoTorch warn about deprecated internals and numerical settings we do not choose.
    """
    for module in (
        "pymatgen",
        "scipy",
        "torch",
        "botorch",
        "gpytorch",
        "linear_operator",
        "matplotlib",
        "sqlalchemy",
        "alembic",
        "monty",
        "spglib",
        "uncertainties",
    ):
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")
    # raised from our own call site, so the module filter above cannot see them
    warnings.filterwarnings(
        "ignore", category=RuntimeWarning, message=r".*(overflow|invalid value|divide by zero)"
    )
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*(oxidation state|electronegativit)")


def click_command() -> tuple[str, dict[str, Any]]:
    """The running command's path and its parameters (``--db`` left out), for the audit log."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return "", {}
    args: dict[str, Any] = {}
    node: click.Context | None = ctx
    while node is not None:
        args = {**{k: v for k, v in node.params.items() if k != "db"}, **args}
        node = node.parent
    from drxlab.store.db import display_url

    # a URL argument (db copy) may carry a password: the audit log keeps it masked
    return ctx.command_path, {
        k: display_url(v) if isinstance(v, str) and "://" in v else v for k, v in args.items()
    }


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
            from drxlab.store.db import open_store, resolve_url, sqlite_path

            path = sqlite_path(resolve_url(self.db))
            new = create and path is not None and not path.exists()
            self._store = open_store(self.db, create=create)
            if not self.quiet and not _json_output():
                click.echo(f"store: {self._store.name}" + (" (created)" if new else ""), err=True)
        return self._store

    def close(self) -> None:
        """Close the store's connections when the command ends (a server's are not left to the GC)."""
        if self._store is not None:
            self._store.engine.dispose()
            self._store = None


def _json_output() -> bool:
    """True when the running command was asked for --json (stdout then carries JSON only)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.params.get("as_json"))


class DrxlabGroup(click.Group):
    """The `drxlab` group: imports a command's module when the command runs, and turns drxlab
    errors into one clear line and exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            # a module that fails to import is a bug to see, never a command that quietly goes missing
            importlib.import_module(f"drxlab.cli.{COMMANDS[name][0]}")
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the listing comes from COMMANDS: `drxlab --help` imports no command module
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [
            (n, (self.commands.get(n) or click.Command(n, help=COMMANDS[n][1])).get_short_help_str(limit))
            for n in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():  # the filters end with the command (tests see their own)
            quiet_third_party_warnings()
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DrxlabError as exc:
            click.echo(f"Error: {exc}{flag_advice(exc)}", err=True)
            sys.exit(1)


def flag_advice(exc: DrxlabError) -> str:
    """The command-line wording of an error's ``option`` (the library names keywords, not flags)."""
    names = (exc.option,) if isinstance(exc.option, str) else exc.option
    flags = " / ".join(f"--{n.replace('_', '-')}" for n in names if n)
    if not flags:
        return ""
    return f"; pass {flags}" + (f" {exc.option_use}" if exc.option_use else "")


pass_ctx = click.make_pass_decorator(Context)


@click.group(
    cls=DrxlabGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--db",
    envvar="DRXLAB_DB",
    default=None,
    metavar="URL|PATH",
    help="Experiment store: a SQLite file path, or a shared PostgreSQL server as "
    "postgresql://user@host/database (password from the URL, PGPASSWORD or ~/.pgpass; "
    "needs pip install 'drxlab[postgres]') [default: db/drxlab.sqlite; env DRXLAB_DB].",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    envvar="DRXLAB_QUIET",
    help="No progress bars or informational messages on stderr (errors and results still print).",
)
@click.version_option(__version__, prog_name="drxlab")
@click.pass_context
def cli(ctx: click.Context, db: str | None, quiet: bool) -> None:
    """drxlab — decide which disordered-rocksalt (DRX) cathodes to make next.

    Keeps your syntheses and coin-cell discharge profiles, trains and fine-tunes the DRXNet
    ensemble on them, and ranks candidate compositions by predicted capacity (mAh/g) and its
    uncertainty σ_Q.
    """
    from drxlab.store.db import set_audit_source

    # every store write of a command (through Context or a store the command opens itself, as
    # demo and simulate do) is logged with the command line
    set_audit_source(click_command)
    ctx.obj = Context(db, quiet)
    ctx.call_on_close(ctx.obj.close)
