"""Virtual-lab commands: lab measure, lab seed (the demo is in demo_cmds)."""

from __future__ import annotations

import click
import numpy as np

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.options import test_conditions, threads_option
from drxlab.cli.render import echo_json, table
from drxlab.exceptions import ConditionError
from drxlab.lab.noise import NoiseModel
from drxlab.progress import ProgressBar
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
@test_conditions
@click.option("--cycles", default="1-10", show_default=True, help="Cycles to record, e.g. 1-10 or 1,2,5.")
@click.option("--campaign", default=None, help="Attach the sample to this campaign.")
@click.option("--noise/--no-noise", default=True, show_default=True, help="Measurement noise model.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@threads_option(needed=_drxnet_oracle)
@pass_ctx
def measure_cmd(
    obj: Context,
    composition: str,
    oracle: str,
    rate: float,
    window: tuple[float, float],
    cycles: str,
    campaign: str | None,
    noise: bool,
    seed: int,
    as_json: bool,
) -> None:
    """Measure COMPOSITION in the virtual lab and store it as a (virtual) test."""
    cyc = parse_cycles(cycles)
    with obj.store().transaction() as s:
        orc = virtual.resolve_oracle(s, oracle)
        cid = None
        if campaign:
            cid = campaigns.ensure(s, campaign).id
        test, m = virtual.measure_one(
            s,
            orc,
            composition,
            rate=rate,
            window=tuple(window),
            cycles=cyc,
            noise=_noise(noise, True),
            rng=np.random.default_rng(seed),
            campaign_id=cid,
        )
        caps = {p.cycle: p.capacity for p in queries.profiles_of(s, test.id)} if test else {}
    if as_json:
        return echo_json(
            {
                "oracle": orc.name,
                "test_id": test.id if test else None,
                "failed": m.failed,
                "reason": m.reason,
                "capacity_mAh_g": caps,
            }
        )
    if test is None:
        click.echo(f"sample failed in the virtual lab: {m.reason}")
        return
    click.echo(f"virtual test {test.id} ({orc.name}): {rate:g} mA/g, {window[0]:g}–{window[1]:g} V")
    click.echo(table(list(caps.items()), ["cycle", "capacity (mAh/g)"]))


@lab.command("seed")
@click.option("--campaign", default=None, help="Campaign the seed samples belong to.")
@click.option("--n", "n", type=int, default=60, show_default=True, help="Number of compositions.")
@click.option("--classes", default="2TM,3TM", show_default=True, help="Composition classes: 2TM, 3TM, HE.")
@click.option("--oracle", default="synthetic", show_default=True, help="synthetic | drxnet:VERSION[/MEMBER].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--noise/--no-noise", default=True, show_default=True)
@threads_option(needed=_drxnet_oracle)
@pass_ctx
def seed_cmd(
    obj: Context, campaign: str | None, n: int, classes: str, oracle: str, seed: int, noise: bool
) -> None:
    """Measure a spread of compositions (several rates and cycles each), like a lab's history."""
    if n < 1:
        raise ConditionError(f"--n {n} must be ≥ 1")
    with (
        obj.store().transaction() as s,
        ProgressBar("virtual lab", n, "sample", enabled=not obj.quiet) as bar,
    ):
        orc = virtual.resolve_oracle(s, oracle)
        cid = None
        if campaign:
            cid = campaigns.ensure(s, campaign).id
        summary = virtual.seed(
            s,
            orc,
            n=n,
            classes=[c.strip() for c in classes.split(",")],
            seed_=seed,
            noise=_noise(noise, True),
            campaign_id=cid,
            on_sample=bar.step,
        )
    click.echo(
        f"seeded {summary.materials} compositions: {summary.tests} tests, {summary.profiles} profiles, "
        f"{summary.failed} failed cells ({orc.name})"
    )
