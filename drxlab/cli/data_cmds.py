"""Data commands: init, import, materials, tests, export."""

from __future__ import annotations

import sys

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.render import echo_json, table
from drxlab.exceptions import DrxlabError, ImportFileError
from drxlab.profiles import importers, plausibility
from drxlab.progress import ProgressBar
from drxlab.store import queries
from drxlab.store.db import schema_version
from drxlab.workflow import campaigns, examples
from drxlab.workflow.examples import EXAMPLES
from drxlab.workflow.ingest import import_files


@cli.command()
@pass_ctx
def init(obj: Context) -> None:
    """Create the experiment store (or check an existing one)."""
    store = obj.store()
    click.echo(f"store ready: {store.name} (schema version {schema_version(store)})")


@cli.command("import")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--example",
    type=click.Choice(list(EXAMPLES)),
    default=None,
    help="Also import a measurement the DRXNet authors published (lmto: Li1.2Mn0.4Ti0.4O2, "
    "20 mA/g, 1.5–4.8 V, cycles 1–10), downloaded once from their repository at a pinned "
    "commit, sha256-checked and kept in $XDG_CACHE_HOME/drxlab/examples "
    "(default ~/.cache/drxlab/examples), where `drxlab demo` finds it too.",
)
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help="Download --example from this folder URL (a mirror) instead of the authors' repository.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(importers.FORMATS),
    default="auto",
    show_default=True,
    help="File format; auto detects DRXNet CSV, DRX-TD JSON or a cycler export by content.",
)
@click.option("--campaign", default=None, help="Attach the imported samples to this campaign name.")
@click.option(
    "--composition", default=None, help="Target composition of a cycler file, e.g. Li1.2Mn0.4Ti0.4O2."
)
@click.option(
    "--active-mass", type=float, default=None, help="Active mass of a cycler cell, g (to get mAh/g)."
)
@click.option(
    "--rate",
    type=float,
    default=None,
    help="Current density of a cycler file, mA/g [default: from the data].",
)
@click.option(
    "--window",
    type=float,
    nargs=2,
    default=None,
    metavar="V_LOW V_HIGH",
    help="Voltage window of a cycler file, V [default: from the data].",
)
@click.option("--instrument", default="", help="Cycler name, stored with the test.")
@click.option(
    "--keep-initial-discharge",
    is_flag=True,
    help="Count a partial discharge from OCV before the first charge as cycle 1 (default: reported, "
    "skipped).",
)
@click.option(
    "--allow-unbalanced", is_flag=True, help="Accept compositions no common oxidation states balance."
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="Skip files that fail (each reported) instead of importing nothing; "
    "exits 1 if any file was rejected.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Import values that look like a unit slip (active mass outside "
    "1e-5–0.1 g, first-cycle capacity outside 20–450 mAh/g).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@pass_ctx
def import_(
    obj: Context,
    paths: tuple[str, ...],
    example: str | None,
    base_url: str | None,
    fmt: str,
    campaign: str | None,
    composition: str | None,
    active_mass: float | None,
    rate: float | None,
    window: tuple[float, float] | None,
    instrument: str,
    keep_initial_discharge: bool,
    allow_unbalanced: bool,
    keep_going: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Import discharge data: DRXNet point CSVs, DRX-TD JSON files (or directories of them) and
    cycler files: BioLogic .mpr/.mpt, Neware .nda/.ndax/CSV, Arbin .res/CSV/XLSX, Maccor, Landt,
    or any CSV with time, voltage and current columns. Check a cycler file first with `drxlab inspect`.

    All files are read and checked first; nothing is written unless every file is good
    (or --keep-going, which skips and reports the bad ones). Re-importing a file is a no-op.

    Example: drxlab import --example lmto
    """
    if not paths and not example:
        raise ImportFileError("give the files to import (PATHS) or --example NAME (e.g. --example lmto)")
    if not force and (why := plausibility.mass_problem(active_mass)) is not None:
        raise ImportFileError(f"--active-mass: {why}; nothing imported (pass --force if the value is right)")
    files = importers.expand(paths)
    if example:
        path, downloaded = examples.pull(example, base_url)
        if not obj.quiet:
            click.echo(
                f"{'downloaded' if downloaded else 'using the cached'} {path} (sha256 verified)", err=True
            )
        files.append(path)
    opts = importers.CyclerOptions(
        composition=composition,
        active_mass=active_mass,
        rate=rate,
        window=tuple(window) if window else None,
        instrument=instrument,
        keep_initial=keep_initial_discharge,
    )
    with ProgressBar("reading", len(files), "file", enabled=not obj.quiet) as bar:
        parsed, bad = importers.read_files(
            files,
            fmt,
            allow_unbalanced=allow_unbalanced,
            cycler=opts,
            keep_going=keep_going,
            on_file=bar.step,
        )
    if not force:
        parsed, implausible = _plausible(parsed, keep_going)
        bad += implausible
    store = obj.store()
    with store.transaction() as session:
        campaign_id = None
        if campaign:
            campaign_id = campaigns.ensure(session, campaign).id
        summary = import_files(session, parsed, campaign_id=campaign_id)
    summary.skipped = bad + summary.skipped
    if as_json:
        echo_json(
            {
                "files": summary.files,
                "tests": summary.tests,
                "profiles": summary.profiles,
                "materials": sorted(summary.materials),
                "skipped": summary.skipped,
                "rejected": bad,
            }
        )
    else:
        for msg in summary.skipped:
            click.echo(msg, err=True)
        for pf in parsed:  # cycles of a cycler file that could not be used are named, never dropped silently
            for t in pf.tests:
                for note in t.extra.get("notes", ()):
                    if "left out" in note:
                        click.echo(f"note: {pf.path}: {note}", err=True)
        click.echo(
            f"imported {summary.files} file(s): {summary.tests} test(s), {summary.profiles} profile(s), "
            f"{len(summary.materials)} material(s)"
        )
    if bad:
        # the good files are in; a script must still see that some were not
        raise DrxlabError(
            f"{len(bad)} of {len(files)} file(s) rejected (listed above); the other "
            f"{len(files) - len(bad)} were imported"
        )


def _plausible(parsed: list, keep_going: bool) -> tuple[list, list[str]]:
    """Files whose tests pass the plausibility checks, and messages for the others."""
    good, bad = [], []
    for pf in parsed:
        msgs = [
            f"{t.source}: {p}; pass --force if the value is right"
            for t in pf.tests
            for p in plausibility.problems(t)
        ]
        if msgs and not keep_going:
            raise ImportFileError(
                msgs[0] + (f" (and {len(msgs) - 1} more)" if len(msgs) > 1 else "") + "; nothing imported"
            )
        if msgs:
            bad.append(msgs[0])
        else:
            good.append(pf)
    return good, bad


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def materials(obj: Context, as_json: bool) -> None:
    """List materials (normalised formula, class, oxidation states, number of tests)."""
    with obj.store(create=False).reader() as s:
        rows = queries.material_rows(s)
    if as_json:
        return echo_json(rows)
    click.echo(
        table(
            [
                (
                    r["id"],
                    r["formula"],
                    r["class"],
                    r["n_metals"],
                    " ".join(f"{k}{v:+g}" for k, v in r["oxidation_states"].items()),
                    r["tests"] - r["virtual_tests"],
                    r["virtual_tests"],
                )
                for r in rows
            ],
            ["id", "formula", "class", "metals", "oxidation states", "tests", "virtual tests"],
        )
    )


@cli.command()
@click.option("--campaign", default=None, help="Only tests of samples in this campaign.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def tests(obj: Context, campaign: str | None, as_json: bool) -> None:
    """List electrochemical tests with conditions and first-cycle capacity."""
    with obj.store(create=False).reader() as s:
        cid = campaigns.find(s, campaign).id if campaign else None
        rows = queries.test_rows(s, cid)
    if as_json:
        return echo_json(rows)
    click.echo(
        table(
            [
                (
                    r["id"],
                    r["formula"],
                    r["class"],
                    r["rate_mA_g"],
                    r["v_low_V"],
                    r["v_high_V"],
                    r["profiles"],
                    r["capacity_first_mAh_g"],
                    "virtual" if r["virtual"] else r["source"],
                )
                for r in rows
            ],
            [
                "test",
                "formula",
                "class",
                "rate (mA/g)",
                "V_low (V)",
                "V_high (V)",
                "profiles",
                "Q first cycle (mAh/g)",
                "source",
            ],
            [0, 0, 0, 1, 2, 2, 0, 1, 0],
        )
    )


@cli.command()
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="-", help="CSV file [default: stdout].")
@click.option("--test", "test_ids", type=int, multiple=True, help="Only these test ids.")
@click.option(
    "--include-virtual", is_flag=True, help="Also export virtual-lab tests (`lab seed`/`lab measure`)."
)
@pass_ctx
def export(obj: Context, out: str, test_ids: tuple[int, ...], include_virtual: bool) -> None:
    """Export standardised profiles as a DRXNet point CSV (V, mAh/g, mAh/g/V; re-importable).
    Virtual-lab tests are left out unless --include-virtual."""
    with obj.store(create=False).reader() as s:
        everything = queries.test_records(s, test_ids=list(test_ids) or None)
    records = [r for r in everything if include_virtual or not r.virtual]
    if len(records) < len(everything) and not obj.quiet:
        click.echo(
            f"left out {len(everything) - len(records)} virtual-lab test(s); --include-virtual to export "
            "them",
            err=True,
        )
    from drxlab.profiles.export import write_drxnet_csv

    if out == "-":
        write_drxnet_csv(records, sys.stdout)
        return
    with open(out, "w", newline="") as fh:
        write_drxnet_csv(records, fh)
