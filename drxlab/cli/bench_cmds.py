"""Benchmarks: bench predict / suggest / finetune (figures as ratios to a baseline in the same run)."""
from __future__ import annotations

from pathlib import Path

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.render import echo_json, table

# the authors' released checkpoints beside the repository (not the working folder)
SHARED_CHECKPOINTS = Path(__file__).resolve().parents[3] / "shared" / "drxnet-upstream" / "pretrained"


def _ensemble(obj: Context, checkpoints: str | None):
    """(what, ensemble): the folder asked for, else the store's current model, else the released
    checkpoints in ../shared beside the repository; the title always says which."""
    from drxlab.exceptions import ModelError, StoreError
    from drxlab.model.io import load_released_ensemble
    from drxlab.workflow import models

    if checkpoints:
        path = Path(checkpoints).expanduser()
        if not path.is_dir():
            raise ModelError(f"--checkpoints {path.absolute()} is not a folder; expected the released "
                             "model_0 … model_4 folders (e.g. ../shared/drxnet-upstream/pretrained)")
        return f"released checkpoints in {path}", load_released_ensemble(path)
    from drxlab.store import queries

    why = ""
    try:
        with obj.store(create=False).reader() as s:
            row = queries.current_model(s)
            if row is not None:
                return f"current model version {row.id} ({row.source}) of the store", models.load(row)
        why = "the store has no current model"
    except StoreError as exc:
        why = str(exc)
    if SHARED_CHECKPOINTS.is_dir():
        return f"released checkpoints in {SHARED_CHECKPOINTS}", load_released_ensemble(SHARED_CHECKPOINTS)
    raise ModelError(f"no model to benchmark ({why}; no {SHARED_CHECKPOINTS}): pass --checkpoints DIR "
                     "or register one (`drxlab model pull`)")


def _show(title: str, res: dict, as_json: bool) -> None:
    if as_json:
        return echo_json(res)
    click.echo(title)
    click.echo(table([(k, v) for k, v in res.items()], ["figure", "value"], [0, 3]))


@cli.group()
def bench() -> None:
    """Measure drxlab's speed (compositions/s, seconds) against baselines in the same run."""


@bench.command("predict")
@click.option("--checkpoints", default=None, help="Released checkpoint folder [default: the store's current "
              "model, else ../shared/drxnet-upstream/pretrained beside the repository].")
@click.option("--n", "n", type=int, default=4000, show_default=True, help="Compositions to screen.")
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def bench_predict_cmd(obj: Context, checkpoints: str | None, n: int, threads: int, as_json: bool) -> None:
    """Compositions/s for capacity screening and full curves vs the per-point reference path."""
    from drxlab.bench.predict import bench_predict

    what, ens = _ensemble(obj, checkpoints)
    _show(f"bench predict: {what}, {len(ens)} members", bench_predict(ens, n, threads=threads), as_json)


@bench.command("suggest")
@click.option("--campaign", "spec_path", default="he-drx", show_default=True,
              help="Campaign file (TOML) or the name of a shipped one.")
@click.option("--size", type=int, default=100_000, show_default=True, help="Candidates (the space is widened to it).")
@click.option("--checkpoints", default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def bench_suggest_cmd(obj: Context, spec_path: str, size: int, checkpoints: str | None, as_json: bool) -> None:
    """Time suggest end to end on a ~10⁵-candidate space: shares of enumeration, prediction, acquisition."""
    from drxlab.workflow.bench import bench_space, bench_suggest

    what, ens = _ensemble(obj, checkpoints)
    from drxlab.workflow.campaigns import locate_file

    spec = bench_space(locate_file(spec_path), size)
    _show(f"bench suggest: {what}", bench_suggest(ens, spec, limit=size), as_json)


@bench.command("finetune")
@click.option("--checkpoints", default=None)
@click.option("--epochs", type=int, default=20, show_default=True, help="As `drxlab finetune` uses.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def bench_finetune_cmd(obj: Context, checkpoints: str | None, epochs: int, as_json: bool) -> None:
    """Time fine-tuning the ensemble on 8 new first-cycle profiles (synthetic lab) with replay."""
    from drxlab.workflow.bench import bench_finetune

    what, ens = _ensemble(obj, checkpoints)
    _show(f"bench finetune: {what}", bench_finetune(ens, epochs=epochs), as_json)
