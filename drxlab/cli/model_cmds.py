"""Model commands: model import-drxnet / pull / list / use, predict."""

from __future__ import annotations

from pathlib import Path

import click

from drxlab.chem import compositions
from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.options import test_conditions, threads_option
from drxlab.cli.render import echo_json, table
from drxlab.workflow import models


@cli.group()
def model() -> None:
    """Manage DRXNet ensemble versions (released checkpoints, trained, fine-tuned)."""


def _report(row, created: bool, scope: str) -> None:
    what = "registered" if created else "already registered as"
    click.echo(
        f"{what} model version {row.id} ({row.sha256[:12]}, {row.n_members} members, {row.source}); "
        f"current for {'campaign ' + scope if scope else 'the lab'}"
    )


@model.command("import-drxnet")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--campaign", default="", help="Make it current for this campaign only [default: lab-wide].")
@pass_ctx
def import_drxnet(obj: Context, directory: str, campaign: str) -> None:
    """Register the DRXNet authors' released 5-model ensemble from DIRECTORY (model_0 … model_4)."""
    with obj.store().transaction() as s:
        row, created = models.import_released(s, Path(directory), scope=campaign)
    _report(row, created, campaign)


@model.command()
@click.option(
    "--base-url",
    default=models.RELEASED_BASE_URL,
    show_default=True,
    help="Where model_0 … model_4 are downloaded from.",
)
@click.option("--campaign", default="", help="Make it current for this campaign only [default: lab-wide].")
@pass_ctx
def pull(obj: Context, base_url: str, campaign: str) -> None:
    """Download the released DRXNet ensemble from the authors' repository, verify its sha256
    hashes and register it. Nothing is registered if any file fails."""
    store = obj.store()
    with store.transaction() as s:
        row, created = models.pull_released(
            s,
            base_url,
            scope=campaign,
            on_file=None if obj.quiet else lambda n: click.echo(f"  {n} ok (sha256 verified)", err=True),
        )
    _report(row, created, campaign)


@model.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(obj: Context, as_json: bool) -> None:
    """List model versions with lineage and which is current."""
    from drxlab.store import queries

    with obj.store(create=False).reader() as s:
        rows = [models.describe(v) for v in queries.model_versions(s)]
        scopes = queries.current_scopes(s)
    for r in rows:
        r["current_for"] = sorted(k or "(lab)" for k, v in scopes.items() if v == r["id"])
    if as_json:
        return echo_json(rows)
    click.echo(
        table(
            [
                (
                    r["id"],
                    r["sha256"][:12],
                    r["source"],
                    r["parent"],
                    r["members"],
                    r["created"][:19],
                    ",".join(r["current_for"]),
                )
                for r in rows
            ],
            ["version", "sha256", "source", "parent", "members", "created (UTC)", "current for"],
        )
    )


@model.command()
@click.argument("version")
@click.option("--campaign", default="", help="Campaign to set it for [default: lab-wide].")
@pass_ctx
def use(obj: Context, version: str, campaign: str) -> None:
    """Make VERSION (id or sha256 prefix) the current model."""
    from drxlab.store import queries

    with obj.store(create=False).transaction() as s:
        row, _ = models.resolve(s, version)
        queries.set_current_model(s, row.id, campaign)
    click.echo(f"model version {row.id} is current for {'campaign ' + campaign if campaign else 'the lab'}")


@cli.command()
@click.argument("composition", nargs=-1, required=True)
@test_conditions
@click.option("--cycle", type=int, default=1, show_default=True, help="Cycle number (1 = first discharge).")
@click.option(
    "--model", "version", default=None, help="Model version id or sha256 prefix [default: current]."
)
@click.option("--campaign", default="", help="Use this campaign's current model.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Save the predicted Q(V) curves with their ±1 σ_Q band as PNG.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output, with the curves.")
@threads_option()
@pass_ctx
def predict(
    obj: Context,
    composition: tuple[str, ...],
    rate: float,
    window: tuple[float, float],
    cycle: int,
    version: str | None,
    campaign: str,
    plot: str | None,
    as_json: bool,
) -> None:
    """Predict the discharge capacity (mAh/g) ± σ_Q of compositions with the DRXNet ensemble.

    Example: drxlab predict Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2 --rate 20 --window 1.5 4.8
    """
    from drxlab.workflow import calibrate

    formulas = [compositions.normalise(c) for c in composition]
    with obj.store(create=False).reader() as s:
        row, ens = models.resolve(s, version, campaign)
        flags = models.applicability(s, row, formulas)
        cal = calibrate.stored(row, campaign)
    pred = ens.predict_curves(formulas, rate, window[0], window[1], cycle)
    cap, sd = pred.capacity_mean, pred.capacity_std
    if cal is None:  # no measurements fitted yet: the documented conservative prior, never σ_Q alone
        from drxlab.acquisition.calibration import conservative_prior

        prior = conservative_prior(cap)
        cap_cal, sd_cal = prior.apply(cap[:, None], cap, sd)
        cal_note = f"not calibrated yet (no `drxlab suggest` with this model version): {prior.message}"
    else:
        cap_cal, sd_cal = cal.apply([compositions.amounts(f) for f in formulas], cap, sd)
        cal_note = f"calibrated on campaign {cal.campaign} ({cal.objective}): {cal.calibration.summary()}"
    if as_json:
        return echo_json(
            [
                {
                    "formula": f,
                    "model_version": row.id,
                    "rate_mA_g": rate,
                    "v_low_V": window[0],
                    "v_high_V": window[1],
                    "cycle": cycle,
                    "capacity_mAh_g": float(cap[i]),
                    "sigma_mAh_g": float(sd[i]),
                    "capacity_calibrated_mAh_g": float(cap_cal[i]),
                    "sigma_calibrated_mAh_g": float(sd_cal[i]),
                    "calibration": cal_note,
                    **flags[i].as_dict(),
                    "capacity_members_mAh_g": pred.capacity[:, i].tolist(),
                    "average_voltage_V": float(pred.average_voltage_mean[i]),
                    "energy_mWh_g": float(pred.energy_mean[i]),
                    "V": pred.voltage[i].tolist(),
                    "Q_mean": pred.q_mean[i].tolist(),
                    "Q_std": pred.q_std[i].tolist(),
                    "dQdV_mean": pred.dqdv_mean[i].tolist(),
                }
                for i, f in enumerate(formulas)
            ]
        )
    click.echo(
        f"model version {row.id} ({row.source}), {rate:g} mA/g, {window[0]:g}–{window[1]:g} V, cycle {cycle}"
    )
    click.echo(f"calibration: {cal_note}")
    click.echo(
        table(
            [
                (f, cap[i], sd[i], cap_cal[i], sd_cal[i], pred.average_voltage_mean[i], pred.energy_mean[i])
                + (flags[i].domain,)
                for i, f in enumerate(formulas)
            ],
            [
                "composition",
                "capacity (mAh/g)",
                "σ_Q (mAh/g)",
                "calibrated (mAh/g)",
                "σ calibrated (mAh/g)",
                "avg voltage (V)",
                "energy (mWh/g)",
                "domain",
            ],
            [0, 1, 1, 1, 1, 2, 0, 0],
        )
    )
    for f, flag in zip(formulas, flags):
        if flag.foreign:
            click.echo(
                f"warning: {f} contains {', '.join(flag.foreign)}, outside the elements this model's "
                "data covers; its prediction is not trustworthy",
                err=True,
            )
    if plot:
        from drxlab.report.figures import curve_plot

        curve_plot(
            pred,
            formulas,
            plot,
            conditions=f"{rate:g} mA/g, {window[0]:g}–{window[1]:g} V, cycle {cycle}; "
            f"DRXNet model version {row.id} ({row.source})",
        )
        click.echo(f"plot written to {plot}", err=True)
