"""`drxlab inspect`: what drxlab reads from cycler files, before anything is written."""

from __future__ import annotations

from pathlib import Path

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.render import echo_json, table


def _render(d: dict) -> str:
    mass = d["active_mass_g"]
    lines = [
        f"{d['file']}",
        f"  format: {d['format']} (read with {d['reader']}), {d['rows']} points",
        f"  active mass: {mass * 1000:.4g} mg from {d['active_mass_source']}"
        if mass
        else "  active mass: not in the file (pass --active-mass in g for mAh/g)",
        "  columns: " + "; ".join(f"{k} ← {v}" for k, v in d["units"].items()),
    ]
    meta = {k: v for k, v in d["metadata"].items() if k not in ("active_mass_g", "active_mass_source")}
    if meta:
        lines.append("  header: " + "; ".join(f"{k}: {v}" for k, v in list(meta.items())[:8]))
    lines.append(
        f"  charges: {d['charge_segments']}, highest charge voltage: "
        + (f"{d['charge_cutoff_V']:.3f} V" if d["charge_cutoff_V"] is not None else "—")
    )
    rows = [
        (
            s["cycle"] or "—",
            s["instrument_cycle"],
            s["kind"],
            f"{s['rows'][0] + 1}–{s['rows'][1]}",
            s["V_min"],
            s["V_max"],
            s["Q_mAh"],
            s.get("Q_mAh_g"),
            s["I_mA"],
        )
        for s in d["segments"]
    ]
    if rows:
        lines.append(
            table(
                rows,
                [
                    "cycle",
                    "file cycle",
                    "kind",
                    "rows",
                    "V min (V)",
                    "V max (V)",
                    "Q (mAh)",
                    "Q (mAh/g)",
                    "|I| (mA)",
                ],
                [0, 0, 0, 0, 3, 3, 4, 1, 4],
            )
        )
    for note in d["dropped"] + d["notes"]:
        lines.append(f"  note: {note}")
    lines.append(
        f"  discharge cycles counted: {d['cycles']}"
        + ("" if d["cycles"] else f" — would be refused: {d.get('refusal')}")
    )
    return "\n".join(lines)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--active-mass", type=float, default=None, help="Active mass of the cell, g (for mAh/g).")
@click.option(
    "--keep-initial-discharge",
    is_flag=True,
    help="Count a partial discharge from OCV before the first charge as cycle 1.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def inspect(
    obj: Context,
    files: tuple[str, ...],
    active_mass: float | None,
    keep_initial_discharge: bool,
    as_json: bool,
) -> None:
    """Show what drxlab reads from cycler files (BioLogic, Neware, Arbin, Maccor, Landt, CSV):
    format and reader, header facts, column units, each discharge with its voltage range and
    capacity (mAh, and mAh/g with a mass), and what was left out and why. Writes nothing;
    `import` and `log` read files exactly this way."""
    from drxlab.profiles.importers.cycler import analyse, refusal

    out = []
    for f in files:
        a = analyse(Path(f), active_mass=active_mass, keep_initial=keep_initial_discharge)
        d = a.as_dict()
        d["refusal"] = refusal(a)
        out.append(d)
    if as_json:
        return echo_json(out)
    click.echo("\n\n".join(_render(d) for d in out))
