"""Benchmarks: bench predict / suggest / finetune (figures as ratios to a baseline in the same run)."""

from __future__ import annotations

from pathlib import Path

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.options import executor_option, threads_option
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
            raise ModelError(
                f"--checkpoints {path.absolute()} is not a folder; expected the released "
                "model_0 … model_4 folders (e.g. ../shared/drxnet-upstream/pretrained)"
            )
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
    raise ModelError(
        f"no model to benchmark ({why}; no {SHARED_CHECKPOINTS}): pass --checkpoints DIR "
        "or register one (`drxlab model pull`)"
    )


def _show(title: str, res: dict, as_json: bool) -> None:
    if as_json:
        return echo_json(res)
    click.echo(title)
    click.echo(table(list(res.items()), ["figure", "value"], [0, 3]))


@cli.group()
def bench() -> None:
    """Measure drxlab's speed (compositions/s, seconds) against baselines in the same run."""


@bench.command("predict")
@click.option(
    "--checkpoints",
    default=None,
    help="Released checkpoint folder [default: the store's current "
    "model, else ../shared/drxnet-upstream/pretrained beside the repository].",
)
@click.option("--n", "n", type=int, default=4000, show_default=True, help="Compositions to screen.")
@click.option("--json", "as_json", is_flag=True)
@threads_option()
@pass_ctx
def bench_predict_cmd(obj: Context, checkpoints: str | None, n: int, as_json: bool) -> None:
    """Compositions/s for capacity screening and full curves vs the per-point reference path."""
    from drxlab.bench.predict import bench_predict

    what, ens = _ensemble(obj, checkpoints)
    _show(f"bench predict: {what}, {len(ens)} members", bench_predict(ens, n, threads=None), as_json)


@bench.command("suggest")
@click.option(
    "--campaign",
    "spec_path",
    default="he-drx",
    show_default=True,
    help="Campaign file (TOML) or the name of a shipped one.",
)
@click.option(
    "--size", type=int, default=100_000, show_default=True, help="Candidates (the space is widened to it)."
)
@click.option("--checkpoints", default=None)
@click.option(
    "--competing-load",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Instead time suggest alone and beside this many CPU-bound processes (started and stopped "
    "here), with drxlab's thread choice and with torch's default of one thread per core.",
)
@click.option(
    "--baseline-size",
    type=click.IntRange(min=100),
    default=1000,
    show_default=True,
    help="Candidates timed with torch's default threads under --competing-load.",
)
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="With --executor ray: also time the local executor on the same space (the ratio).",
)
@click.option("--json", "as_json", is_flag=True)
@threads_option()
@executor_option
@pass_ctx
def bench_suggest_cmd(
    obj: Context,
    spec_path: str,
    size: int,
    checkpoints: str | None,
    competing_load: int,
    baseline_size: int,
    baseline: bool,
    as_json: bool,
    executor,
) -> None:
    """Time suggest end to end on a ~10⁵-candidate space: shares of enumeration, prediction, acquisition."""
    from drxlab.workflow.bench import bench_space, bench_suggest, bench_suggest_load

    what, ens = _ensemble(obj, checkpoints)
    from drxlab.workflow.campaigns import locate_file

    spec = bench_space(locate_file(spec_path), size)
    if competing_load:
        res = bench_suggest_load(
            ens, spec, load=competing_load, limit=size, baseline_limit=min(baseline_size, size)
        )
        return _show(f"bench suggest beside {competing_load} CPU-bound process(es): {what}", res, as_json)
    if executor.is_ray:
        from drxlab.workflow.bench_ray import bench_suggest_ray

        res = bench_suggest_ray(ens, spec, executor, limit=size, baseline=baseline)
        _short(res, size, spec_path)
        return _show(f"bench suggest on {executor.describe()} vs local: {what}", res, as_json)
    res = bench_suggest(ens, spec, limit=size)
    _short(res, size, spec_path)
    _show(f"bench suggest: {what}", res, as_json)


def _short(res: dict, size: int, spec_path: str) -> None:
    """Say on stderr when the campaign's space, widened as far as it goes, is below --size."""
    if res["candidates"] < size:
        click.echo(
            f"note: {spec_path}'s space widens to {res['candidates']} candidates, fewer than --size "
            f"{size}; for more use a campaign with a finer step or more species",
            err=True,
        )


@bench.command("simulate")
@click.option(
    "--campaign",
    "spec_path",
    default="he-drx-1e4",
    show_default=True,
    help="Campaign file (TOML) or the name of a shipped one.",
)
@click.option("--strategies", default="ucb,logei,random", show_default=True, help="Acquisition kinds.")
@click.option(
    "--seeds", type=click.IntRange(min=1), default=4, show_default=True, help="Repeats per strategy."
)
@click.option(
    "--rounds", type=click.IntRange(min=1), default=2, show_default=True, help="Rounds per campaign."
)
@click.option(
    "--batch", type=click.IntRange(min=1), default=4, show_default=True, help="Syntheses per round."
)
@click.option(
    "--start-epochs",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Epochs of the initial ensemble.",
)
@click.option(
    "--n-start",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Starting compositions per seed.",
)
@click.option(
    "--synthesis-failures/--no-synthesis-failures",
    default=True,
    show_default=True,
    help="Let virtual syntheses fail, as simulate does by default.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Workers of the private Ray instance [default: --threads, the local run's threads].",
)
@click.option("--json", "as_json", is_flag=True)
@threads_option()
@executor_option
@pass_ctx
def bench_simulate_cmd(
    obj: Context,
    spec_path: str,
    strategies: str,
    seeds: int,
    rounds: int,
    batch: int,
    start_epochs: int,
    n_start: int,
    synthesis_failures: bool,
    workers: int | None,
    as_json: bool,
    executor,
) -> None:
    """Time `simulate` (synthetic oracle) on the local executor and, with --executor ray, on Ray
    in the same run: seconds each, the Ray / local ratio, and whether both made the same syntheses."""
    from drxlab.candidates.spec import load_spec
    from drxlab.executors import ExecutorError
    from drxlab.workflow.bench_ray import bench_simulate_ray
    from drxlab.workflow.campaigns import locate_file
    from drxlab.workflow.simulate import check_plan

    strat = [s.strip() for s in strategies.split(",") if s.strip()]
    path = locate_file(spec_path)
    check_plan(load_spec(path), strat, rounds, batch, seeds, 10**12)
    if not executor.is_ray:
        raise ExecutorError(
            "bench simulate compares the local executor with Ray in one run: pass --executor ray[:ADDRESS]"
        )
    res = bench_simulate_ray(
        path,
        executor,
        strategies=strat,
        seeds=seeds,
        rounds=rounds,
        batch=batch,
        start_epochs=start_epochs,
        n_start=n_start,
        workers=workers,
        synthesis=synthesis_failures,
        say=(lambda s: None) if as_json or obj.quiet else (lambda s: click.echo(s, err=True)),
    )
    _show(f"bench simulate on {executor.describe()} vs local", res, as_json)


@bench.command("finetune")
@click.option("--checkpoints", default=None)
@click.option("--epochs", type=int, default=20, show_default=True, help="As `drxlab finetune` uses.")
@click.option("--json", "as_json", is_flag=True)
@threads_option()
@pass_ctx
def bench_finetune_cmd(obj: Context, checkpoints: str | None, epochs: int, as_json: bool) -> None:
    """Time fine-tuning the ensemble on 8 new first-cycle profiles (synthetic lab) with replay."""
    from drxlab.workflow.bench import bench_finetune

    what, ens = _ensemble(obj, checkpoints)
    _show(f"bench finetune: {what}", bench_finetune(ens, epochs=epochs), as_json)


@bench.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--composition", default="Li1.2Mn0.4Ti0.4O2", show_default=True, help="Composition to build the test."
)
@click.option("--active-mass", type=float, default=None, help="Active mass, g [default: from the file].")
@click.option("--repeat", type=int, default=3, show_default=True, help="Best of this many runs per stage.")
@click.option("--json", "as_json", is_flag=True)
def bench_import_cmd(
    files: tuple[str, ...], composition: str, active_mass: float | None, repeat: int, as_json: bool
) -> None:
    """Rows/s of importing cycler files: the vendor library alone vs drxlab's read, segment, profiles."""
    from drxlab.bench.importing import bench_import

    res = [
        bench_import(Path(f), composition=composition, active_mass=active_mass, repeat=repeat) for f in files
    ]
    if as_json:
        return echo_json(res)
    click.echo(
        table(
            [
                (
                    r["file"][:40],
                    r["format"],
                    r["rows"],
                    r["cycles"],
                    r["library_rows_per_s"],
                    r["read_s"],
                    r["segment_s"],
                    r["profiles_s"],
                    r["full_rows_per_s"],
                    r["full_over_library"],
                )
                for r in res
            ],
            [
                "file",
                "format",
                "rows",
                "cycles",
                "library (rows/s)",
                "read (s)",
                "segment (s)",
                "profiles (s)",
                "full (rows/s)",
                "full/library",
            ],
            [0, 0, 0, 0, 0, 3, 3, 3, 0, 2],
        )
    )


@bench.command("store")
@click.option(
    "--pg",
    "pg_url",
    default=None,
    metavar="URL",
    help="An empty PostgreSQL database to compare with [default: --db when it is PostgreSQL].",
)
@click.option("--tests", "n_tests", type=int, default=1000, show_default=True, help="DRX-TD tests to import.")
@click.option("--size", type=int, default=100_000, show_default=True, help="Candidates of the suggest round.")
@click.option(
    "--campaign",
    "spec_path",
    default="he-drx",
    show_default=True,
    help="Campaign file or shipped campaign name whose space is widened to --size.",
)
@click.option(
    "--repeat",
    type=int,
    default=2,
    show_default=True,
    help="Rounds, in alternating order; the best time of each step is reported.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def bench_store_cmd(
    obj: Context, pg_url: str | None, n_tests: int, size: int, spec_path: str, repeat: int, as_json: bool
) -> None:
    """Import N DRX-TD tests and run one suggest round on a ~10⁵ space, on a temporary SQLite
    store and on PostgreSQL in the same run (same files, same seeded small ensemble): seconds
    per step and the PostgreSQL / SQLite ratio."""
    import tempfile

    from drxlab.exceptions import StoreError
    from drxlab.store.db import display_url, resolve_url
    from drxlab.store.postgres import is_postgres
    from drxlab.workflow.bench_store import bench_store
    from drxlab.workflow.campaigns import locate_file

    pg = pg_url or (obj.db if obj.db and is_postgres(resolve_url(obj.db)) else None)
    if pg is None:
        raise StoreError("bench store compares with PostgreSQL: pass --pg URL (an empty database)")
    with tempfile.TemporaryDirectory(prefix="drxlab-bench-") as tmp:
        res = bench_store(
            {"sqlite": str(Path(tmp) / "bench.sqlite"), "postgresql": pg},
            Path(tmp),
            n_tests=n_tests,
            size=size,
            campaign=locate_file(spec_path),
            repeat=repeat,
        )
    lite, post = res["sqlite"], res["postgresql"]
    ratios = {k: post[k] / lite[k] for k in lite if k.endswith("_s") and lite[k] > 0}
    if as_json:
        return echo_json(
            {
                "stores": {"sqlite": "temporary file", "postgresql": display_url(resolve_url(pg))},
                **res,
                "ratio_postgresql_to_sqlite": ratios,
            }
        )
    click.echo(
        f"bench store: {int(lite['tests'])} tests imported, suggest over {int(lite['candidates'])} "
        f"candidates; PostgreSQL {display_url(resolve_url(pg))}"
    )
    rows = [(k, lite[k], post[k], ratios.get(k)) for k in lite if k.endswith("_s")]
    click.echo(table(rows, ["step", "SQLite (s)", "PostgreSQL (s)", "PostgreSQL / SQLite"], [0, 2, 2, 2]))
