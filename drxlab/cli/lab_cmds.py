"""Virtual-lab commands: lab measure, lab seed."""
from __future__ import annotations

import sys

import click
import numpy as np
from tqdm import tqdm

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.options import threads_option
from drxlab.cli.render import echo_json, table
from drxlab.exceptions import ConditionError
from drxlab.lab.noise import NoiseModel
from drxlab.store import queries
from drxlab.workflow import campaigns
from drxlab.workflow import lab as virtual


def parse_cycles(text: str) -> list[int]:
    """'1-10' / '1,2,5' / '1-3,10' → sorted cycle numbers (each ≥ 1)."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            lo, hi = int(a), int(b or a)
            out.update(range(lo, hi + 1))
    except ValueError:
        raise ConditionError(f"cycles {text!r} invalid; expected e.g. '1-10' or '1,2,5'") from None
    if not out or min(out) < 1:
        raise ConditionError(f"cycles {text!r} invalid; cycle numbers start at 1")
    return sorted(out)


def _noise(noise: bool, failures: bool) -> NoiseModel:
    if not noise:
        return NoiseModel.off()
    return NoiseModel() if failures else NoiseModel(failure_rate=0.0)


def _drxnet_oracle(kwargs: dict) -> bool:
    return kwargs["oracle"].startswith("drxnet")  # the synthetic oracle runs no model


@cli.group()
def lab() -> None:
    """The virtual DRX lab: "synthesise and cycle" compositions with an oracle (flagged virtual)."""


@lab.command("measure")
@click.argument("composition")
@click.option("--oracle", default="synthetic", show_default=True, help="synthetic | drxnet:VERSION[/MEMBER].")
@click.option("--rate", type=float, default=20.0, show_default=True, help="Current density, mA/g.")
@click.option("--window", type=float, nargs=2, default=(1.5, 4.8), show_default=True, metavar="V_LOW V_HIGH",
              help="Voltage window, V.")
@click.option("--cycles", default="1-10", show_default=True, help="Cycles to record, e.g. 1-10 or 1,2,5.")
@click.option("--campaign", default=None, help="Attach the sample to this campaign.")
@click.option("--noise/--no-noise", default=True, show_default=True, help="Measurement noise model.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@threads_option(needed=_drxnet_oracle)
@pass_ctx
def measure_cmd(obj: Context, composition: str, oracle: str, rate: float, window: tuple[float, float], cycles: str,
                campaign: str | None, noise: bool, seed: int, as_json: bool) -> None:
    """Measure COMPOSITION in the virtual lab and store it as a (virtual) test."""
    cyc = parse_cycles(cycles)
    with obj.store().transaction() as s:
        orc = virtual.resolve_oracle(s, oracle)
        cid = None
        if campaign:
            cid = campaigns.ensure(s, campaign).id
        test, m = virtual.measure_one(s, orc, composition, rate=rate, window=tuple(window), cycles=cyc,
                                      noise=_noise(noise, True), rng=np.random.default_rng(seed), campaign_id=cid)
        caps = {p.cycle: p.capacity for p in queries.profiles_of(s, test.id)} if test else {}
    if as_json:
        return echo_json({"oracle": orc.name, "test_id": test.id if test else None, "failed": m.failed,
                          "reason": m.reason, "capacity_mAh_g": caps})
    if test is None:
        click.echo(f"sample failed in the virtual lab: {m.reason}")
        return
    click.echo(f"virtual test {test.id} ({orc.name}): {rate:g} mA/g, {window[0]:g}–{window[1]:g} V")
    click.echo(table([(c, q) for c, q in caps.items()], ["cycle", "capacity (mAh/g)"]))


@lab.command("seed")
@click.option("--campaign", default=None, help="Campaign the seed samples belong to.")
@click.option("--n", "n", type=int, default=60, show_default=True, help="Number of compositions.")
@click.option("--classes", default="2TM,3TM", show_default=True, help="Composition classes: 2TM, 3TM, HE.")
@click.option("--oracle", default="synthetic", show_default=True, help="synthetic | drxnet:VERSION[/MEMBER].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--noise/--no-noise", default=True, show_default=True)
@threads_option(needed=_drxnet_oracle)
@pass_ctx
def seed_cmd(obj: Context, campaign: str | None, n: int, classes: str, oracle: str, seed: int, noise: bool) -> None:
    """Measure a spread of compositions (several rates and cycles each), like a lab's history."""
    if n < 1:
        raise ConditionError(f"--n {n} must be ≥ 1")
    with obj.store().transaction() as s, tqdm(total=n, desc="virtual lab", unit="sample", file=sys.stderr,
                                              disable=None) as bar:
        orc = virtual.resolve_oracle(s, oracle)
        cid = None
        if campaign:
            cid = campaigns.ensure(s, campaign).id
        summary = virtual.seed(s, orc, n=n, classes=[c.strip() for c in classes.split(",")], seed_=seed,
                               noise=_noise(noise, True), campaign_id=cid, on_sample=bar.update)
    click.echo(f"seeded {summary.materials} compositions: {summary.tests} tests, {summary.profiles} profiles, "
               f"{summary.failed} failed cells ({orc.name})")


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="drxlab-demo", show_default=True,
              help="Folder for the demo database and report.")
@click.option("--n-seed", type=int, default=40, show_default=True, help="Seed compositions measured first.")
@click.option("--epochs", type=int, default=12, show_default=True, help="Training epochs per member.")
@click.option("--seed", type=int, default=0, show_default=True)
@threads_option()
def demo(out: str, n_seed: int, epochs: int, seed: int) -> None:
    """Run drxlab end to end on the embedded virtual DRX lab: seed data, train an ensemble,
    predict unseen compositions with σ_Q, suggest → synthesise → log → fine-tune, report."""
    import time
    from pathlib import Path

    from drxlab.workflow.demo import run_demo

    t0 = time.perf_counter()
    bars: list = []

    def progress(desc: str, total: int):
        bar = tqdm(total=total, desc=f"    {desc}", file=sys.stderr, disable=None, leave=False)
        bars.append(bar)
        return bar.update

    res = run_demo(Path(out), n_seed=n_seed, epochs=epochs, seed=seed, say=click.echo, progress=progress)
    for b in bars:
        b.close()
    click.echo(table([(p["formula"], p["class"], p["predicted"], p["sigma"], p["truth"], p["predicted"] - p["truth"])
                      for p in res.predictions],
                     ["composition", "class", "predicted (mAh/g)", "σ_Q (mAh/g)", "oracle truth (mAh/g)",
                      "error (mAh/g)"]))
    click.echo(f"    capacity MAE on these unseen compositions: {res.mae:.1f} mAh/g vs the seed data's spread "
               f"σ = {res.seed_spread:.1f} mAh/g ({res.mae / res.seed_spread:.0%} of it)")
    click.echo(table([(r["sample"], r["formula"], r["predicted"], r["sigma"], r["measured"], r["domain"])
                      for r in res.suggestions],
                     ["sample", "suggested composition", "predicted (mAh/g)", "σ_Q (mAh/g)", "measured (mAh/g)",
                      "domain"]))
    ft = res.finetune
    click.echo(f"    fine-tuned → model version {ft['version']} (parent {ft['parent']}): MAE on the new profiles "
               f"{ft['new_before']['mae']:.1f} → {ft['new_after']['mae']:.1f} mAh/g, on held-out old data "
               f"{ft['heldout_old_before']['mae']:.1f} → {ft['heldout_old_after']['mae']:.1f} mAh/g")
    if res.report:
        click.echo(f"    report: {res.report}")
    total = time.perf_counter() - t0
    click.echo(f"done in {total:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in res.timings.items()) + ")")
    click.echo(f"continue with:  drxlab --db {res.db} status  |  suggest --campaign demo-he  |  "
               f"log --sample ID FILE  |  report --campaign demo-he")
