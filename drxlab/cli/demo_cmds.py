"""`drxlab demo`: the released model on real data when it can, then a round on the virtual lab."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.options import threads_option
from drxlab.cli.render import table
from drxlab.progress import bars

if TYPE_CHECKING:  # the workflow modules import torch: loaded only when the demo runs
    from drxlab.workflow.demo import DemoResult
    from drxlab.workflow.demo_real import RealResult


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="drxlab-demo",
    show_default=True,
    help="Folder for the demo databases (real.sqlite, demo.sqlite) and the report.",
)
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Folder with the authors' released checkpoints model_0 … model_4 [default: the "
    "released version in your store (--db), after `drxlab model pull` or "
    "`model import-drxnet`].",
)
@click.option(
    "--example-dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Folder holding the authors' LMTO_example.csv [default: the copy `drxlab import --example "
    "lmto` keeps in $XDG_CACHE_HOME/drxlab/examples, default ~/.cache/drxlab/examples].",
)
@click.option(
    "--n-seed", type=int, default=40, show_default=True, help="Virtual compositions measured first."
)
@click.option(
    "--epochs",
    type=int,
    default=10,
    show_default=True,
    help="Training epochs per member of the virtual lab's ensemble.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@threads_option()
@pass_ctx
def demo(
    obj: Context,
    out: str,
    model_dir: str | None,
    example_dir: str | None,
    n_seed: int,
    epochs: int,
    seed: int,
) -> None:
    """See drxlab work in about three minutes.

    Part 1, REAL (when the authors' released DRXNet and their measured Li1.2Mn0.4Ti0.4O2 file are
    here): the released ensemble's capacity for the paper's high-entropy HE-1 and HE-2 next to the
    paper's values, then its predictions for the measured cell, cycles 1–10, before and after
    logging the first cycle only and fine-tuning.

    Part 2, VIRTUAL: one active-learning round on the embedded virtual DRX lab (simulated
    measurements): seed data, train an ensemble, predict unseen compositions with σ_Q,
    suggest → synthesise → log → fine-tune, report.

    Without the released model and the LMTO file, part 1 is skipped and the commands that
    fetch them (once, from the authors' repository) are printed at the end.
    """
    from drxlab.workflow.demo import run_demo
    from drxlab.workflow.demo_real import find_lmto, find_released, missing_hint, run_real

    t0 = time.perf_counter()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    make_bar = bars(enabled=not obj.quiet)
    ensemble, origin = find_released(obj.db, Path(model_dir) if model_dir else None)
    lmto = find_lmto(Path(example_dir) if example_dir else None)
    real = None
    if ensemble is not None:
        click.echo(
            "PART 1 — REAL: the DRXNet authors' released ensemble; 'measured' is the authors' real cell"
        )
        real = run_real(folder, ensemble, origin, lmto, seed=seed, say=click.echo, bars=make_bar)
        _show_real(real)
    t_real = time.perf_counter() - t0
    click.echo(
        "\nPART 2 — VIRTUAL: one active-learning round on the embedded virtual lab "
        "(simulated data, not measurements)"
    )
    res = run_demo(
        folder,
        n_seed=n_seed,
        epochs=epochs,
        seed=seed,
        say=click.echo,
        bars=make_bar,
        write_report=_write_campaign_report,
    )
    _show_virtual(res)
    total = time.perf_counter() - t0
    split = ", ".join(f"{k} {v:.0f} s" for k, v in res.timings.items())
    real_split = f" ({', '.join(f'{k} {v:.0f} s' for k, v in real.timings.items())})" if real else ""
    click.echo(
        f"\ndone in {total:.0f} s: real part {t_real:.0f} s{real_split}, virtual part "
        f"{total - t_real:.0f} s ({split})"
    )
    if real is not None:
        click.echo(f"real data:    drxlab --db {real.db} status --campaign lmto")
    click.echo(
        f"virtual lab:  drxlab --db {res.db} status  |  suggest --campaign demo-he  |  "
        f"log --sample ID FILE  |  report --campaign demo-he"
    )
    todo = missing_hint(ensemble is not None, lmto is not None)
    if todo:
        what = {
            "drxlab model pull": "the released DRXNet checkpoints",
            "drxlab import --example lmto": "the authors' measured LMTO cell",
        }
        click.echo(
            "\nThe real part (the authors' model on real measured data) needs "
            + " and ".join(what[c] for c in todo)
            + "; fetch them once from github.com/zhongpc/DRXNet (sha256-checked), then run the "
            "demo again:"
        )
        for cmd in [*todo, "drxlab demo"]:
            click.echo(f"  {cmd}")
        click.echo(
            "  (offline: drxlab demo --model-dir DIR --example-dir DIR, with local copies of their files)"
        )


def _show_real(real: RealResult) -> None:
    click.echo(
        f"\nreleased DRXNet (model version {real.released_version} in {real.db}, from "
        f"{real.origin}): PREDICTED capacity, 1.5–4.8 V, cycle 1, next to the values the paper "
        "reports"
    )
    rows = [
        (
            r["name"],
            r["formula"],
            r["rate"],
            r["predicted"],
            r["sigma"],
            r["sigma_calibrated"],
            r["paper"],
            r["predicted"] - r["paper"],
        )
        for r in real.he
    ]
    click.echo(
        table(
            rows,
            [
                "name",
                "composition",
                "rate (mA/g)",
                "predicted (mAh/g)",
                "σ_Q (mAh/g)",
                "σ calibrated (mAh/g)",
                "paper (mAh/g)",
                "difference (mAh/g)",
            ],
            [0, 0, 0, 1, 1, 1, 0, 1],
        )
    )
    click.echo(f"    {real.calibration_note}")
    if not real.lmto:
        return
    click.echo(
        f"\nthe authors' MEASURED cell ({real.lmto_file.name}): capacity per cycle; the fine-tune saw "
        f"cycle 1 only ({real.cycle1_file}), model version {real.released_version} → "
        f"{real.finetuned_version}"
    )
    rows = [
        (
            r["cycle"],
            r["measured"],
            r["before"],
            r["sigma_before"],
            r["sigma_cal_before"],
            r["after"],
            r["sigma_after"],
            r["sigma_cal_after"],
        )
        for r in real.lmto
    ]
    click.echo(
        table(
            rows,
            [
                "cycle",
                "measured (mAh/g)",
                "released (mAh/g)",
                "σ_Q (mAh/g)",
                "σ calibrated (mAh/g)",
                "fine-tuned (mAh/g)",
                "σ_Q after (mAh/g)",
                "σ calibrated after (mAh/g)",
            ],
        )
    )
    click.echo(f"    {real.calibration_note}")
    click.echo(
        f"    cycles 2–{real.lmto[-1]['cycle']} (never shown to the model): MAE "
        f"{real.mae_before:.1f} → {real.mae_after:.1f} mAh/g after logging cycle 1 and fine-tuning"
    )


def _show_virtual(res: DemoResult) -> None:
    click.echo(
        "\nVIRTUAL: the toy ensemble's predictions for compositions it has not seen, next to the "
        "virtual lab's truth"
    )
    rows = [
        (p["formula"], p["class"], p["predicted"], p["sigma"], p["truth"], p["predicted"] - p["truth"])
        for p in res.predictions
    ]
    click.echo(
        table(
            rows,
            [
                "composition",
                "class",
                "predicted (mAh/g)",
                "σ_Q (mAh/g)",
                "virtual truth (mAh/g)",
                "error (mAh/g)",
            ],
        )
    )
    click.echo(
        f"    capacity MAE on these unseen compositions: {res.mae:.1f} mAh/g vs the seed data's "
        f"spread σ = {res.seed_spread:.1f} mAh/g ({res.mae / res.seed_spread:.0%} of it)"
    )
    click.echo(
        table(
            [
                (
                    r["sample"],
                    r["formula"],
                    r["predicted"],
                    r["sigma"],
                    r["sigma_calibrated"],
                    r["measured"],
                    r["domain"],
                )
                for r in res.suggestions
            ],
            [
                "sample",
                "suggested composition",
                "predicted (mAh/g)",
                "σ_Q (mAh/g)",
                "σ calibrated (mAh/g)",
                "virtual measurement (mAh/g)",
                "domain",
            ],
        )
    )
    ft = res.finetune
    click.echo(
        f"    fine-tuned → model version {ft['version']} (parent {ft['parent']}): MAE on the new "
        f"virtual profiles {ft['new_before']['mae']:.1f} → {ft['new_after']['mae']:.1f} mAh/g, on "
        f"held-out old data {ft['heldout_old_before']['mae']:.1f} → "
        f"{ft['heldout_old_after']['mae']:.1f} mAh/g"
    )
    if res.report:
        click.echo(f"    report: {res.report}")


def _write_campaign_report(session, path: Path) -> None:
    from drxlab.report.data import collect
    from drxlab.report.render import write_report

    write_report(collect(session, "demo-he"), path)
