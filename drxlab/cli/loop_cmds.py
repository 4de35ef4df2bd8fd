"""The lab's loop: train, finetune, log, status, evaluate."""

from __future__ import annotations

from pathlib import Path

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.options import executor_option, threads_option
from drxlab.cli.render import echo_json, fmt, table
from drxlab.executors import Executor
from drxlab.profiles import importers
from drxlab.progress import ProgressBar
from drxlab.vocabulary import SampleStatus
from drxlab.workflow import results, training


@cli.command()
@click.option("--members", type=int, default=5, show_default=True, help="Ensemble members.")
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--batch", type=int, default=1024, show_default=True, help="Voltage points per batch.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--size",
    type=click.Choice(list(training.MODEL_SIZES)),
    default="released",
    show_default=True,
    help="Network size: the paper's (released) or a small one for quick runs.",
)
@click.option("--classes", default=None, help="Train only on these composition classes, e.g. 2TM.")
@click.option("--campaign", default="", help="Make the new version current for this campaign [default: lab].")
@click.option(
    "--make-current",
    is_flag=True,
    help="Make the new version current even if it is worse on the held-out compositions than the "
    "current one.",
)
@click.option(
    "--include-virtual", is_flag=True, help="Also train on virtual-lab tests (`lab seed`/`lab measure`)."
)
@threads_option()
@executor_option
@pass_ctx
def train(
    obj: Context,
    members: int,
    epochs: int,
    batch: int,
    seed: int,
    size: str,
    classes: str | None,
    campaign: str,
    make_current: bool,
    include_virtual: bool,
    executor: Executor,
) -> None:
    """Train a new DRXNet ensemble from scratch on the store's measured profiles (some compositions
    held out for validation; needs data of at least 5 compositions). A new model that is worse on
    the held-out compositions than the current one is registered but not made current."""
    bar = ProgressBar("training", unit="epoch", enabled=not obj.quiet)
    try:
        store = obj.store(create=False)
        with store.reader() as s:  # training holds no write lock; registering is one short write
            fitted = training.fit_from_scratch(
                s,
                members=members,
                epochs=epochs,
                batch=batch,
                seed=seed,
                size=size,
                classes=[c.strip() for c in classes.split(",")] if classes else None,
                scope=campaign,
                include_virtual=include_virtual,
                progress=bar,
                executor=executor,
            )
        with store.transaction() as s:
            res = training.commit(s, fitted, campaign, make_current=make_current)
    finally:
        bar.close()
    m, v = res.metrics, res.version
    val, old = m.error("validation"), m.error("validation_current")
    n_val = len(fitted.training["validation_formulas"])
    click.echo(
        f"model version {v.id} ({v.sha256[:12]}): capacity MAE train {fmt(m.error('train').mae)} mAh/g, "
        f"validation {fmt(val.mae)} mAh/g ({val.n} profiles of {n_val} held-out compositions)"
    )
    if old:
        click.echo(
            f"current model version {old.version} on the same held-out compositions: {fmt(old.mae)} mAh/g"
        )
    scope = f"campaign {campaign}" if campaign else "the lab"
    if res.current:
        click.echo(f"model version {v.id} is now current for {scope}")
    else:
        click.echo(
            f"model version {v.id} is registered but NOT made current: it is worse on the held-out "
            f"compositions than version {old.version} ({fmt(val.mae)} vs {fmt(old.mae)} mAh/g); "
            f"use it anyway with `drxlab model use {v.id}` or train with --make-current"
        )


def _finetune_report(res: training.TrainResult) -> None:
    m = res.metrics
    click.echo(f"fine-tuned → model version {res.version.id} (parent {res.version.parent_id})")
    rows = []
    for name, split in (("new profiles", "new"), ("held-out old data", "heldout_old")):
        before, after = m.error(f"{split}_before"), m.error(f"{split}_after")
        rows.append((name, before.n, before.mae, after.mae, before.sigma, after.sigma))
    click.echo(
        table(
            rows,
            [
                "data",
                "profiles",
                "MAE before (mAh/g)",
                "MAE after (mAh/g)",
                "σ_Q before (mAh/g)",
                "σ_Q after (mAh/g)",
            ],
        )
    )


@cli.command()
@click.option("--campaign", default="", help="Fine-tune this campaign's current model [default: lab-wide].")
@click.option("--epochs", type=int, default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--include-virtual", is_flag=True, help="Also use virtual-lab tests (new data and replay).")
@click.option("--json", "as_json", is_flag=True)
@threads_option()
@executor_option
@pass_ctx
def finetune(
    obj: Context,
    campaign: str,
    epochs: int,
    seed: int,
    include_virtual: bool,
    as_json: bool,
    executor: Executor,
) -> None:
    """Update the current ensemble with the profiles it has not seen (with replay of old data);
    registers a new version whose parent is the current one. Virtual-lab tests are left out
    unless --include-virtual."""
    bar = ProgressBar("fine-tuning", unit="epoch", enabled=not obj.quiet)
    try:
        store = obj.store(create=False)
        with store.reader() as s:
            fitted = training.fit_finetune(
                s,
                scope=campaign,
                epochs=epochs,
                seed=seed,
                include_virtual=include_virtual,
                progress=bar,
                executor=executor,
            )
        with store.transaction() as s:
            res = training.commit(s, fitted, campaign)
    finally:
        bar.close()
    if as_json:
        return echo_json(
            {"version": res.version.id, "parent": res.version.parent_id, "metrics": res.metrics.as_dict()}
        )
    _finetune_report(res)


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--sample", "sample_id", type=int, default=None, help="Sample id (from suggest / status).")
@click.option("--composition", default=None, help="For a sample that was not suggested: its composition.")
@click.option("--campaign", default=None, help="For a sample that was not suggested: its campaign.")
@click.option("--format", "fmt", type=click.Choice(importers.FORMATS), default="auto", show_default=True)
@click.option("--rate", type=float, default=None, help="Current density of a cycler file, mA/g.")
@click.option(
    "--window", type=float, nargs=2, default=None, metavar="V_LOW V_HIGH", help="Window of a cycler file, V."
)
@click.option("--active-mass", type=float, default=None, help="Active mass of a cycler cell, g.")
@click.option(
    "--keep-initial-discharge",
    is_flag=True,
    help="Count a partial discharge from OCV before the first charge as cycle 1.",
)
@click.option(
    "--batch",
    "sheet",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A sheet (.csv/.xlsx) with a row per sample: sample_id, file, active_mass_g or failed_reason "
    "(`suggest --sheet` writes it). All rows are logged or none.",
)
@click.option("--failed", is_flag=True, help="The synthesis or cell failed (give --reason).")
@click.option(
    "--reason",
    default="",
    help="Why it failed: impurity_phase, li_loss, f_not_incorporated, off_stoichiometry, cell or other, "
    "then your own words, e.g. 'impurity_phase: spinel peaks in XRD' or 'F not incorporated, LiF left'.",
)
@click.option("--replace", is_flag=True, help="Replace earlier results of the sample (kept as history).")
@click.option("--finetune", "then_finetune", is_flag=True, help="Fine-tune the model on it right away.")
@click.option(
    "--finetune-epochs",
    type=click.IntRange(min=1),
    default=training.FINETUNE_EPOCHS,
    show_default=True,
    help="Epochs of that fine-tune (fewer: quicker, learns less from the new result).",
)
@click.option("--allow-unbalanced", is_flag=True)
@click.option(
    "--force",
    is_flag=True,
    help="Log even a file already stored or values that look like a unit slip "
    "(active mass outside 1e-5–0.1 g, cycle-1 capacity outside 20–450 mAh/g).",
)
@click.option("--json", "as_json", is_flag=True)
@threads_option(needed=lambda kw: kw["then_finetune"])
@pass_ctx
def log(
    obj: Context,
    file: str | None,
    sample_id: int | None,
    composition: str | None,
    campaign: str | None,
    fmt: str,
    rate: float | None,
    window,
    active_mass: float | None,
    keep_initial_discharge: bool,
    sheet: str | None,
    failed: bool,
    reason: str,
    replace: bool,
    then_finetune: bool,
    finetune_epochs: int,
    allow_unbalanced: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Log the measured first cycle(s) of a sample (FILE: DRXNet CSV, DRX-TD JSON or cycler export),
    or a failed synthesis/cell with --failed. Prints measured vs predicted capacity and the z-score."""
    from drxlab.exceptions import DrxlabError
    from drxlab.workflow.log_results import log_results

    if sheet:
        return _log_batch(
            obj, Path(sheet), keep_initial_discharge, replace, then_finetune, finetune_epochs, as_json
        )
    if failed:
        if sample_id is None:
            raise DrxlabError("--failed needs --sample ID")
        if not reason.strip():
            raise DrxlabError("--reason is required with --failed (e.g. 'impurity phase in XRD')")

        def prepare(s):
            return [results.prepare_failed(s, sample_id, reason, replace)]
    else:
        if not file:
            raise DrxlabError("give the measured FILE (or --failed --reason for a failed sample)")
        if sample_id is None and not (composition and campaign):
            raise DrxlabError(
                "give --sample ID, or --composition and --campaign for a sample that was not suggested"
            )
        opts = importers.CyclerOptions(
            active_mass=active_mass,
            rate=rate,
            window=tuple(window) if window else None,
            keep_initial=keep_initial_discharge,
        )

        def prepare(s):
            return [
                results.prepare_test(
                    s,
                    Path(file),
                    sample_id=sample_id,
                    composition=composition,
                    campaign=campaign,
                    fmt=fmt,
                    cycler=opts,
                    replace=replace,
                    allow_unbalanced=allow_unbalanced,
                    force=force,
                )
            ]

    then_finetune = then_finetune and not failed
    with ProgressBar("fine-tuning", unit="epoch", enabled=then_finetune and not obj.quiet) as bar:
        out = log_results(obj.store(), prepare, finetune=then_finetune, progress=bar, epochs=finetune_epochs)
    (logged,), res = out.logged, out.finetuned
    if as_json:
        return echo_json(
            {
                "sample_id": logged.sample_id,
                "formula": logged.formula,
                "status": logged.status,
                "test_id": logged.test_id,
                "measured_mAh_g": logged.measured,
                "predicted_mAh_g": logged.predicted,
                "sigma_mAh_g": logged.sigma,
                "z": logged.z,
                "finetuned_version": res.version.id if res else None,
                "finetune_metrics": res.metrics.as_dict() if res else None,
            }
        )
    if logged.status == SampleStatus.FAILED:
        click.echo(f"sample {logged.sample_id} ({logged.formula}) marked failed")
        return
    line = (
        f"sample {logged.sample_id} ({logged.formula}) tested: measured {logged.measured:.1f} mAh/g (cycle 1)"
    )
    if logged.predicted is not None:
        z = f"{logged.z:+.2f}" if logged.z is not None else "—"
        line += (
            f"; predicted {logged.predicted:.1f} ± {logged.sigma:.1f} mAh/g by model version "
            f"{logged.model_version} when suggested (z = {z})"
        )
    click.echo(line)
    if res:
        _finetune_report(res)


@cli.command()
@click.option("--campaign", default=None, help="Only this campaign.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(obj: Context, campaign: str | None, as_json: bool) -> None:
    """Samples by state, what is waiting for results, and the current model with its lineage."""
    with obj.store(create=False).reader() as s:
        st = results.status(s, campaign)
    if as_json:
        return echo_json(st.as_dict())
    click.echo("samples: " + ", ".join(f"{k} {v}" for k, v in st.samples.items() if v or k != "replaced"))
    click.echo(
        f"tests: {st.tests} measured"
        + (
            f", {st.virtual_tests} virtual (virtual lab; left out of "
            "train, finetune and export unless --include-virtual)"
            if st.virtual_tests
            else ""
        )
    )
    if st.waiting:
        click.echo("\nwaiting for results:")
        click.echo(
            table(
                [
                    (
                        w.sample_id,
                        w.formula,
                        w.status,
                        w.round,
                        w.predicted,
                        w.sigma,
                        w.sigma_calibrated,
                        f"{w.age_days:.1f}" + (" OVERDUE" if w.overdue else ""),
                    )
                    for w in st.waiting
                ],
                [
                    "sample",
                    "composition",
                    "status",
                    "round",
                    "predicted (mAh/g)",
                    "σ_Q (mAh/g)",
                    "σ calibrated (mAh/g)",
                    "age (d)",
                ],
            )
        )
        late = [w for w in st.waiting if w.overdue]
        if late:
            click.echo(
                f"{len(late)} sample(s) pending longer than their campaign's max_pending_days "
                f"({late[0].max_pending_days:g} d): log a result, or --failed if the synthesis failed"
            )
    if st.calibration:
        click.echo(f"calibration: {st.calibration}")
    if st.lineage:
        click.echo("\nmodel lineage (current first):")
        click.echo(
            table(
                [(v.id, v.sha256[:12], v.source, v.parent, v.created[:19]) for v in st.lineage],
                ["version", "sha256", "source", "parent", "created (UTC)"],
            )
        )
    else:
        click.echo("\nno model yet: `drxlab train` or `drxlab model pull`")


@cli.command()
@click.option("--train-class", "train_class", default="2TM", show_default=True, help="Classes to train on.")
@click.option("--test-class", "test_class", default="3TM,HE", show_default=True, help="Classes to test on.")
@click.option("--with-first-cycle", is_flag=True, help="Add the test compositions' first cycle to training.")
@click.option("--members", type=int, default=5, show_default=True)
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--size", type=click.Choice(list(training.MODEL_SIZES)), default="released", show_default=True)
@click.option(
    "--include-virtual", is_flag=True, help="Also use virtual-lab tests (`lab seed`/`lab measure`)."
)
@click.option("--json", "as_json", is_flag=True)
@threads_option()
@pass_ctx
def evaluate(
    obj: Context,
    train_class: str,
    test_class: str,
    with_first_cycle: bool,
    members: int,
    epochs: int,
    seed: int,
    size: str,
    include_virtual: bool,
    as_json: bool,
) -> None:
    """Composition-split test of the DRXNet recipe (as in the paper's Figure 3): train on some
    classes, report capacity (2.0–4.4 V) and average-voltage MAE on others against the MAD baseline."""
    from drxlab.workflow.evaluate import evaluate_split

    bar = ProgressBar("training", unit="epoch", enabled=not obj.quiet)
    try:
        with obj.store(create=False).reader() as s:
            res = evaluate_split(
                s,
                train_classes=train_class.split(","),
                test_classes=test_class.split(","),
                with_first_cycle=with_first_cycle,
                members=members,
                epochs=epochs,
                seed=seed,
                size=size,
                include_virtual=include_virtual,
                progress=bar,
            )
    finally:
        bar.close()
    if as_json:
        return echo_json(res.as_dict())
    click.echo(
        f"trained on {train_class} ({res.train_tests} tests), tested on {test_class} "
        f"({res.test_tests} tests)" + (" with their first cycle in training" if with_first_cycle else "")
    )
    click.echo(
        table(
            [
                (
                    k,
                    v.profiles,
                    v.capacity_mae,
                    v.capacity_mad_baseline,
                    v.avg_voltage_mae,
                    v.avg_voltage_mad_baseline,
                    v.sigma_mean,
                )
                for k, v in res.classes.items()
            ],
            [
                "class",
                "profiles",
                "capacity MAE (mAh/g)",
                "MAD baseline (mAh/g)",
                "avg V MAE (V)",
                "MAD baseline (V)",
                "mean σ_Q (mAh/g)",
            ],
            [0, 0, 1, 1, 3, 3, 1],
        )
    )
    click.echo(
        table(
            [(c, v.profiles, v.capacity_mae, v.sigma_mean) for c, v in res.cycles.items()],
            ["cycle", "profiles", "capacity MAE (mAh/g)", "mean σ_Q (mAh/g)"],
        )
    )


def _log_batch(
    obj: Context,
    sheet: Path,
    keep_initial: bool,
    replace: bool,
    then_finetune: bool,
    epochs: int,
    as_json: bool,
) -> None:
    from drxlab.workflow.batch import prepare_batch, write_batch
    from drxlab.workflow.log_results import log_results

    def prepare(s):
        return prepare_batch(s, sheet, keep_initial=keep_initial, replace=replace)

    with ProgressBar("fine-tuning", unit="epoch", enabled=then_finetune and not obj.quiet) as bar:
        out = log_results(
            obj.store(), prepare, write=write_batch, finetune=then_finetune, progress=bar, epochs=epochs
        )
    logged, res = out.logged, out.finetuned
    rows = [
        {
            "sample_id": x.sample_id,
            "formula": x.formula,
            "status": x.status,
            "measured_mAh_g": x.measured,
            "predicted_mAh_g": x.predicted,
            "sigma_mAh_g": x.sigma,
            "z": x.z,
        }
        for x in logged
    ]
    if as_json:
        return echo_json({"logged": rows, "finetuned_version": res.version.id if res else None})
    click.echo(
        table(
            [
                (r["sample_id"], r["formula"], r["status"], r["measured_mAh_g"], r["predicted_mAh_g"], r["z"])
                for r in rows
            ],
            ["sample", "composition", "status", "measured (mAh/g)", "predicted (mAh/g)", "z"],
            [0, 0, 0, 1, 1, 2],
        )
    )
    if res:
        _finetune_report(res)
