"""`drxlab simulate`: compare acquisition strategies on whole virtual campaigns."""

from __future__ import annotations

from pathlib import Path

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.options import executor_option, threads_option
from drxlab.cli.render import echo_json, table
from drxlab.executors import Executor
from drxlab.progress import bars
from drxlab.vocabulary import AcquisitionKind, CalibrationMethod, values


@cli.command()
@click.option(
    "--campaign",
    "spec_path",
    required=True,
    help="Campaign file (TOML) whose space is searched, or the name of a shipped one (he-drx).",
)
@click.option("--oracle", default="synthetic", show_default=True, help="synthetic | drxnet:VERSION[/MEMBER].")
@click.option("--rounds", type=int, default=5, show_default=True)
@click.option("--batch", type=int, default=4, show_default=True, help="Syntheses per round.")
@click.option(
    "--strategies",
    default="ucb,logei,random",
    show_default=True,
    help="Comma-separated acquisition kinds: "
    + ", ".join(k for k in AcquisitionKind if not k.multi_objective)
    + ".",
)
@click.option("--seeds", type=int, default=3, show_default=True, help="Repeats per strategy (seeds 0…S−1).")
@click.option(
    "--start-from", default="2TM", show_default=True, help="Starting data: a class (2TM) or a data file."
)
@click.option(
    "--n-start", type=int, default=20, show_default=True, help="Starting compositions for a class start."
)
@click.option(
    "--start-epochs",
    type=int,
    default=15,
    show_default=True,
    help="Epochs of the initial ensemble trained on the starting data.",
)
@click.option(
    "--calibration",
    type=click.Choice(values(CalibrationMethod)),
    default=None,
    help="σ calibration acquisition uses [default: the campaign file's, else gp]; raw, scale and gp "
    "coverage are reported whatever it is.",
)
@click.option(
    "--kappa",
    type=click.FloatRange(min=0),
    default=None,
    help="UCB exploration weight: score = mean + kappa × σ (the calibrated σ unless --calibration none) "
    "[default: the campaign file's].",
)
@click.option(
    "--no-feasibility",
    is_flag=True,
    help="Rank without P(synthesis succeeds) learned from the campaign's failed syntheses.",
)
@click.option(
    "--synthesis-failures/--no-synthesis-failures",
    default=True,
    show_default=True,
    help="Let virtual syntheses fail by documented rules (F above its solubility, Mn3+ without Li "
    "excess, too much Nb/Mo) and at small random rates (drxlab.lab.synthesis).",
)
@click.option("--out", type=click.Path(file_okay=False), default="simulation", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@threads_option()
@executor_option
@pass_ctx
def simulate(
    obj: Context,
    spec_path: str,
    oracle: str,
    rounds: int,
    batch: int,
    strategies: str,
    seeds: int,
    start_from: str,
    n_start: int,
    start_epochs: int,
    calibration: str | None,
    kappa: float | None,
    no_feasibility: bool,
    synthesis_failures: bool,
    out: str,
    as_json: bool,
    executor: Executor,
) -> None:
    """Run whole virtual campaigns per strategy and seed (suggest → measure → log → fine-tune)
    and compare how fast each finds the true top 1 % of the candidate space.

    The campaigns are recorded in OUT/simulation.sqlite (one campaign per strategy × seed; with
    --executor ray each campaign runs alone in OUT/campaigns/CAMPAIGN.sqlite and the stores are
    merged into OUT/simulation.sqlite when every campaign has finished, or into the lab's
    PostgreSQL database when --db is one, in one transaction); a drxnet oracle
    (e.g. drxnet:1/0, member 0 of version 1 as truth) comes from --db."""
    from drxlab.candidates.spec import load_spec
    from drxlab.lab.oracle import synthetic_oracle
    from drxlab.lab.synthesis import SynthesisRules
    from drxlab.report.simulation import write_outputs
    from drxlab.store.db import open_store
    from drxlab.workflow.campaigns import locate_file
    from drxlab.workflow.lab import resolve_oracle
    from drxlab.workflow.simulate import check_plan, run_simulation

    spec_path = str(locate_file(spec_path))
    strat = [s.strip() for s in strategies.split(",") if s.strip()]
    check_plan(load_spec(spec_path), strat, rounds, batch, seeds, 10**12)
    if oracle == "synthetic":
        orc = synthetic_oracle()
    else:  # a drxnet oracle is a model version of the user's store (--db)
        with obj.store(create=False).reader() as s:
            orc = resolve_oracle(s, oracle)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    db = outdir / "simulation.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    plan = {
        "rounds": rounds,
        "batch": batch,
        "start_from": start_from,
        "n_start": n_start,
        "start_epochs": start_epochs,
        "calibration": calibration,
        "kappa": kappa,
        "feasibility": not no_feasibility,
        "synthesis": SynthesisRules() if synthesis_failures else None,
    }
    say = (lambda s: None) if as_json else click.echo
    if executor.is_ray:
        from drxlab.workflow.ray_simulate import simulate_on_ray

        res = simulate_on_ray(
            executor,
            outdir,
            Path(spec_path),
            orc,
            strategies=strat,
            seeds=list(range(seeds)),
            db=_server(obj.db),
            say=say,
            **plan,
        )
    else:
        res = run_simulation(
            open_store(db),
            Path(spec_path),
            orc,
            strategies=strat,
            seeds=list(range(seeds)),
            say=say,
            bars=bars(enabled=not obj.quiet),
            **plan,
        )
    files = write_outputs(res, outdir)
    summ = res.summary()
    if as_json:
        return echo_json(res.as_dict())
    click.echo(
        f"{res.campaign}: {res.candidates} candidates, oracle {res.oracle}, {rounds} rounds × {batch}, "
        f"{seeds} seeds; true best {res.true_max:.1f} mAh/g, top 1 % ≥ {res.top_threshold:.1f} mAh/g"
    )
    click.echo(
        table(
            [
                (
                    k,
                    v.syntheses_to_top_median,
                    f"{v.reached_top}/{v.seeds}",
                    v.random_over_median,
                    v.best_true_median,
                    v.regret_median,
                    v.model_mae_untested,
                    v.failed_syntheses_median,
                )
                for k, v in summ.items()
            ],
            [
                "strategy",
                "syntheses to top 1 % (median)",
                "reached",
                "× fewer than random (exact)",
                "best true (mAh/g)",
                "regret (mAh/g)",
                "model MAE untested (mAh/g)",
                "failed syntheses (median)",
            ],
        )
    )
    click.echo(
        f"uniform random picks need a median of {res.random_median():.0f} syntheses to make one of the "
        f"{res.top_count} top-1 % candidates (exact, hypergeometric); 'inf' / '—': not reached in "
        f"{rounds * batch}"
    )
    stores = f"{outdir / 'campaigns' / '*.sqlite'}" if executor.is_ray else db
    if executor.is_ray and _server(obj.db):
        from drxlab.store.db import display_url, resolve_url

        stores += f", the campaigns merged into {display_url(resolve_url(obj.db))}"
    click.echo("written: " + ", ".join(map(str, files)) + f", {stores}")


def _server(db: str | None) -> str | None:
    """``--db`` (or $DRXLAB_DB) when it is a PostgreSQL database: where Ray's campaigns are merged."""
    from drxlab.store.db import resolve_url
    from drxlab.store.postgres import is_postgres

    url = resolve_url(db)
    return url if is_postgres(url) else None
