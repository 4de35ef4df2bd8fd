"""Campaign commands: campaign add / list, candidates, suggest."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from drxlab.candidates.spec import load_spec
from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.options import executor_option, threads_option
from drxlab.cli.render import echo_json, table
from drxlab.exceptions import CampaignError, StoreError
from drxlab.executors import Executor
from drxlab.progress import ProgressBar
from drxlab.store import queries
from drxlab.vocabulary import AcquisitionKind, CalibrationMethod, describe, values
from drxlab.workflow import campaigns


@cli.group()
def campaign() -> None:
    """Register and list campaign files (TOML in campaigns/)."""


@campaign.command("add")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_ctx
def campaign_add(obj: Context, file: str) -> None:
    """Register FILE under its [campaign] name; a changed file becomes a new revision."""
    with obj.store().transaction() as s:
        row, spec, created = campaigns.add(s, Path(file))
    state = "registered" if created else "unchanged:"
    click.echo(f"{state} campaign {row.name!r} revision {row.revision} ({row.spec_hash[:12]})")


@campaign.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def campaign_list(obj: Context, as_json: bool) -> None:
    """List campaigns with their revisions."""
    with obj.store(create=False).reader() as s:
        rows = [
            {
                "name": c.name,
                "revision": c.revision,
                "sha256": c.spec_hash,
                "created": c.created_at.isoformat(),
                "samples": len(queries.samples_of_campaign(s, [c.id])),
            }
            for c in queries.campaigns(s)
        ]
    if as_json:
        return echo_json(rows)
    click.echo(
        table(
            [(r["name"], r["revision"], r["sha256"][:12], r["samples"], r["created"][:19]) for r in rows],
            ["campaign", "revision", "sha256", "samples", "created (UTC)"],
        )
    )


def _spec(obj: Context, ref: str):
    """A campaign's spec from a file, a registered name or a shipped file (see workflow.campaigns)."""
    if Path(ref).expanduser().is_file():
        return load_spec(Path(ref).expanduser())
    try:
        store = obj.store(create=False)
    except StoreError as exc:
        if campaigns.bundled_file(ref) is None:
            raise CampaignError(
                f"campaign {ref!r} not found: neither a file nor a shipped campaign, and no "
                f"store to look it up in ({exc})"
            ) from None
        return campaigns.spec_of(None, ref)  # no store yet: the shipped campaign files still work
    with store.reader() as s:
        return campaigns.spec_of(s, ref)


@cli.command()
@click.option("--campaign", "ref", required=True, help="Campaign file (TOML) or registered name.")
@click.option("--count", is_flag=True, help="Print the number of candidates.")
@click.option("--head", type=int, default=None, help="List the first N candidates.")
@click.option("--json", "as_json", is_flag=True)
@executor_option
@pass_ctx
def candidates(
    obj: Context, ref: str, count: bool, head: int | None, as_json: bool, executor: Executor
) -> None:
    """Charge-balanced candidate compositions of a campaign's space (Li, metals, O, F grid)."""
    from drxlab.candidates.generator import count_candidates, first_candidates

    spec = _spec(obj, ref)
    if head is None and not count:
        count = True
    if count and executor.is_ray:
        from drxlab.candidates.ray_count import count_candidates_ray

        n = count_candidates_ray(spec, executor)
        return echo_json({"campaign": spec.name, "count": n}) if as_json else click.echo(n)
    if count:
        n = count_candidates(spec)
        return echo_json({"campaign": spec.name, "count": n}) if as_json else click.echo(n)
    if head < 1:
        raise CampaignError(f"--head {head} must be ≥ 1")
    rows = first_candidates(spec, head)
    if as_json:
        return echo_json(
            [
                {
                    "formula": c.formula,
                    "amounts": dict(c.amounts),
                    "F": c.f,
                    "class": c.composition_class,
                    "oxidation_states": dict(c.oxidation_states),
                }
                for c in rows
            ]
        )
    # :g shows the grid's own digits (0.025 stays 0.025; a fixed 2 decimals rounds it to 0.03 or 0.02)
    click.echo(
        table(
            [
                (
                    c.formula,
                    c.composition_class,
                    f"{c.f:g}",
                    " ".join(f"{k}:{v:g}" for k, v in c.oxidation_states.items()),
                )
                for c in rows
            ],
            ["composition", "class", "F (per f.u.)", "species (per f.u.)"],
            [0, 0, 0, 0],
        )
    )


@cli.command()
@click.option("--campaign", "ref", required=True, help="Campaign file (registered first) or registered name.")
@click.option("-n", "n", type=int, default=None, help="Number of suggestions [default: the file's batch].")
@click.option(
    "--acq",
    "kind",
    type=click.Choice(values(AcquisitionKind)),
    default=None,
    help="Acquisition: " + describe(AcquisitionKind) + ".",
)
@click.option("--kappa", type=float, default=None, help="UCB exploration weight κ.")
@click.option(
    "--min-distance", type=float, default=None, help="Minimum L1 distance between suggestions (per f.u.)."
)
@click.option("--seed", type=int, default=None, help="Random seed (same database + seed = same suggestions).")
@click.option("--model", "model_ref", default=None, help="Model version [default: the campaign's current].")
@click.option(
    "--calibration",
    type=click.Choice(values(CalibrationMethod)),
    default=None,
    help="How σ_Q is calibrated on the campaign's measurements before ranking: "
    f"{describe(CalibrationMethod)} [default: the file's, else gp].",
)
@click.option(
    "--no-feasibility",
    is_flag=True,
    help="Rank without P(synthesis succeeds) learned from failed syntheses "
    "[default: the file's [acquisition] feasibility, true unless set].",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Also write the table as .csv or .json."
)
@click.option(
    "--sheet",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a lab sheet (.csv/.xlsx) for `log --batch`: one row per suggested sample.",
)
@click.option("--json", "as_json", is_flag=True)
@threads_option()
@executor_option
@pass_ctx
def suggest(
    obj: Context,
    ref: str,
    n: int | None,
    kind: str | None,
    kappa: float | None,
    min_distance: float | None,
    seed: int | None,
    model_ref: str | None,
    calibration: str | None,
    no_feasibility: bool,
    out: str | None,
    sheet: str | None,
    as_json: bool,
    executor: Executor,
) -> None:
    """Suggest the next compositions to synthesise: screens the campaign's whole candidate
    space with the DRXNet ensemble, ranks by the acquisition function and records the
    suggestions as proposed samples."""
    from drxlab.workflow import models
    from drxlab.workflow.screening import screen
    from drxlab.workflow.suggest import suggest as suggest_round

    if n is not None and n < 1:
        raise CampaignError(f"-n {n} must be ≥ 1 (number of suggestions)")
    store = obj.store()
    # screen the space without holding the write lock, then record the round in one short write
    with store.reader() as s, ProgressBar("screening", unit="candidates", enabled=not obj.quiet) as bar:
        spec = campaigns.spec_of(s, ref)
        version, ensemble = models.resolve(s, model_ref, spec.name)
        if executor.is_ray:
            from drxlab.workflow.ray_screen import screen_for_round

            scored = screen_for_round(
                s,
                spec,
                ensemble,
                executor,
                n=n,
                kind=kind,
                kappa=kappa,
                min_distance=min_distance,
                calibration=calibration,
                feasibility=False if no_feasibility else None,
                on_chunk=bar.update,
            )
        else:
            scored = screen(spec, ensemble, on_chunk=bar.update)
    with store.transaction() as s:
        rnd = suggest_round(
            s,
            spec,
            n=n,
            kind=kind,
            kappa=kappa,
            seed=seed,
            min_distance=min_distance,
            model_ref=str(version.id),
            scored=scored,
            calibration=calibration,
            feasibility=False if no_feasibility else None,
        )
    data = rnd.as_dict()
    if out:
        _write(out, rnd)
    if sheet:
        from drxlab.workflow.batch import write_sheet

        write_sheet(Path(sheet), [(r.sample_id, r.formula) for r in rnd.rows])
    if as_json:
        return echo_json(data)
    names = list(rnd.rows[0].objectives) if rnd.rows else ["objective"]
    objectives = {o.name: o for o in spec.objectives}
    click.echo(
        f"campaign {rnd.campaign} (rev {rnd.revision}), round {rnd.round}: {len(rnd.rows)} of "
        f"{rnd.n_candidates} candidates by {rnd.kind} with model version {rnd.model_version}; "
        f"min pairwise L1 distance {rnd.min_distance:.3f}"
    )
    if rnd.warning:
        click.echo(f"note: {rnd.warning}", err=True)
    if rnd.calibration:
        click.echo(f"calibration: {rnd.calibration['summary']}")
    click.echo(f"note: {rnd.feasibility}", err=True)
    if rnd.pending:
        click.echo(
            f"note: {rnd.pending} pending sample(s) fantasised at their predicted mean (kriging believer); "
            f"min L1 distance of this batch to them {rnd.pending_distance:.3f}",
            err=True,
        )
    extra = names[1:]
    rows = [
        (
            r.rank,
            r.sample_id,
            r.formula,
            r.klass,
            r.predicted,
            r.sigma,
            r.calibrated,
            r.sigma_calibrated,
            *(f"{r.objectives[k][0]:.3g} ± {r.objectives[k][1]:.2g}" for k in extra),
            r.acquisition,
            r.p_feasible,
            r.nearest or "—",
            r.distance if r.nearest else None,
            r.domain,
        )
        for r in rnd.rows
    ]
    unit = objectives[names[0]].unit if names[0] in objectives else "mAh/g"
    headers = [
        "rank",
        "sample",
        "composition",
        "class",
        f"{names[0]} ({unit})",
        "σ_Q (mAh/g)" if unit == "mAh/g" else f"σ ({unit})",
        f"calibrated ({unit})",
        f"σ calibrated ({unit})",
        *(objectives[k].header + " ± σ" if k in objectives else k for k in extra),
        AcquisitionKind(rnd.kind).value_label(unit),
        "P(feasible)",
        "nearest known",
        "L1 dist.",
        "domain",
    ]
    click.echo(table(rows, headers, [0, 0, 0, 0, 1, 1, 1, 1, *[0] * len(extra), 3, 2, 0, 2, 0]))


def _write(path: str, rnd) -> None:
    rows = [
        {
            "rank": r.rank,
            "sample_id": r.sample_id,
            "composition": r.formula,
            "class": r.klass,
            "predicted_mAh_g": r.predicted,
            "sigma_mAh_g": r.sigma,
            "calibrated_mAh_g": r.calibrated,
            "sigma_calibrated_mAh_g": r.sigma_calibrated,
            "acquisition": r.acquisition,
            "p_feasible": r.p_feasible,
            "nearest_known": r.nearest,
            "distance_L1": r.distance,
            "domain": r.domain,
            "objectives": json.dumps(r.objectives),
        }
        for r in rnd.rows
    ]
    if path.endswith(".json"):
        Path(path).write_text(json.dumps(rnd.as_dict(), indent=2, default=str))
        return
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["rank"])
        w.writeheader()
        w.writerows(rows)
