"""`drxlab demo`, virtual half: a whole active-learning round on the embedded virtual DRX lab.

seed a store from the synthetic lab → train a small 5-member ensemble → predict held-out
compositions next to the oracle's truth → suggest → virtual synthesis → log → fine-tune →
report. The database is left for the user to continue with. (The real half, the released
model on measured data, is :mod:`drxlab.workflow.demo_real`.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from sqlmodel import Session

from drxlab.chem import compositions
from drxlab.chem.constants import STANDARD_RATE, STANDARD_WINDOW
from drxlab.lab.noise import NoiseModel
from drxlab.lab.oracle import synthetic_oracle
from drxlab.lab.synthetic import true_capacity
from drxlab.progress import ProgressBar, silent
from drxlab.store import queries
from drxlab.store.db import open_store
from drxlab.vocabulary import SampleStatus
from drxlab.workflow import lab, training
from drxlab.workflow.suggest import suggest

DEMO_TESTS = ((20.0, (1, 2, 3, 5, 10, 20)), (100.0, (1, 5)), (1000.0, (1,)))
HELD_OUT = (
    "Li1.2Mn0.4Ti0.4O2",
    "Li1.2Mn0.2Cr0.2Ti0.4O2",
    "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2",
    "Li1.2Mn0.1Mg0.1Cr0.15V0.15Ti0.2Nb0.1O1.8F0.2",
    "Li1.15Mn0.3Cr0.15Ti0.25Nb0.15O1.9F0.1",
    "Li1.25Mn0.35V0.15Ti0.15Nb0.1O1.85F0.15",
)
# the demo lab's history uses the species of its campaign (a lab explores around what it knows)
DEMO_SPECIES = {
    "Mn2+": 0.4,
    "Mn3+": 0.6,
    "Cr3+": 0.4,
    "V3+": 0.4,
    "Fe3+": 0.3,
    "Ni2+": 0.3,
    "Mg2+": 0.2,
    "Ti4+": 0.5,
    "Nb5+": 0.4,
}


@dataclass
class DemoResult:
    db: Path
    timings: dict[str, float] = field(default_factory=dict)
    predictions: list[dict] = field(default_factory=list)
    mae: float = float("nan")
    seed_spread: float = float("nan")
    suggestions: list[dict] = field(default_factory=list)
    finetune: dict = field(default_factory=dict)
    report: Path | None = None


def demo_campaign_file() -> Path:
    return Path(str(resources.files("drxlab") / "data" / "demo-campaign.toml"))


def run_demo(
    out: Path,
    *,
    n_seed: int = 40,
    epochs: int = 10,
    seed: int = 0,
    classes: tuple[str, ...] = ("2TM", "3TM"),
    size: str = "small",
    say: Callable[[str], None] = print,
    bars: Callable[..., ProgressBar] = silent,
    write_report: Callable[[Session, Path], None] | None = None,
) -> DemoResult:
    """Run the demo in ``out`` (creates ``out/demo.sqlite``, replacing an earlier demo database).

    ``write_report(session, path)`` renders the campaign report; the caller passes it because
    the workflow layer does not import the report layer.
    """
    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    store = open_store(db)
    res = DemoResult(db)
    oracle = synthetic_oracle()
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        res.timings[name] = now - tick
        tick = now

    say(f"1/5 virtual lab: measuring {n_seed} 2-/3-metal DRX compositions at 20, 100 and 1000 mA/g …")
    with bars("virtual lab", n_seed, "sample") as bar, store.transaction() as s:
        summary = lab.seed(
            s,
            oracle,
            n=n_seed,
            classes=list(classes),
            seed_=seed,
            noise=NoiseModel(),
            tests=DEMO_TESTS,
            on_sample=bar.step,
            species=DEMO_SPECIES,
        )
    caps = [float(r.profiles[1][1][0]) for r in _records(store) if r.rate == 20.0 and 1 in r.profiles]
    res.seed_spread = float(np.std(caps))
    say(
        f"    {summary.tests} tests, {summary.profiles} profiles ({summary.failed} cells failed); "
        "cycle-1 capacity "
        f"at 20 mA/g spans {min(caps):.0f}–{max(caps):.0f} mAh/g (σ {res.seed_spread:.0f})"
    )
    lap("seed")

    say(f"2/5 training a 5-member DRXNet ensemble ({epochs} epochs, small network) …")
    with bars("training", 5 * epochs, "epoch") as bar, store.transaction() as s:
        tr = training.train(s, members=5, epochs=epochs, batch=1024, seed=seed, size=size, progress=bar)
    val = tr.metrics.error("validation")
    say(f"    model version {tr.version.id}: validation MAE {val.mae:.1f} mAh/g on held-out compositions")
    lap("train")

    say("3/5 predictions for compositions the model has not seen (20 mA/g, 1.5–4.8 V, cycle 1):")
    from drxlab.workflow import models

    with bars("predicting", len(HELD_OUT), "composition") as bar:
        with store.reader() as s:
            _, ens = models.current(s)
        pred = ens.predict_curves(list(HELD_OUT), 20.0, 1.5, 4.8, 1)
        bar({"advance": len(HELD_OUT)})
    for i, f in enumerate(HELD_OUT):
        truth = true_capacity(compositions.amounts(f), 20.0, 1.5, 4.8, 1)
        res.predictions.append(
            {
                "formula": pred.formulas[i],
                "class": compositions.composition_class(compositions.amounts(f)),
                "predicted": float(pred.capacity_mean[i]),
                "sigma": float(pred.capacity_std[i]),
                "truth": truth,
            }
        )
    res.mae = float(np.mean([abs(p["predicted"] - p["truth"]) for p in res.predictions]))
    lap("predict")

    say("4/5 one active-learning round: suggest → virtual synthesis → log → fine-tune")
    with bars("screening", None, "candidates") as bar, store.transaction() as s:
        rnd = suggest(s, str(demo_campaign_file()), seed=seed, on_chunk=bar.update)
    with bars("virtual synthesis", len(rnd.rows), "sample") as bar, store.transaction() as s:
        rng = np.random.default_rng(seed + 1)
        for row in rnd.rows:
            smp = queries.sample(s, row.sample_id)
            queries.set_sample_status(s, smp, SampleStatus.SYNTHESIZED)
            test, _ = lab.measure_one(
                s,
                oracle,
                row.formula,
                rate=STANDARD_RATE,
                window=STANDARD_WINDOW,
                cycles=[1],
                noise=NoiseModel(failure_rate=0.0),
                rng=rng,
                sample=smp,
            )
            measured = float(queries.profiles_of(s, test.id)[0].capacity) if test else None
            res.suggestions.append(
                {
                    "sample": row.sample_id,
                    "formula": row.formula,
                    "predicted": row.predicted,
                    "sigma": row.sigma,
                    "sigma_calibrated": row.sigma_calibrated,
                    "measured": measured,
                    "domain": row.domain,
                }
            )
            bar({})
    lap("suggest+log")
    with bars("fine-tuning", None, "epoch") as bar, store.transaction() as s:
        ft = training.finetune(s, seed=seed, progress=bar)
    res.finetune = ft.metrics.as_dict() | {"version": ft.version.id, "parent": ft.version.parent_id}
    lap("finetune")

    if write_report is not None:
        say("5/5 campaign report")
        res.report = out / "report.html"
        with bars("writing the report") as bar, store.reader() as s:
            write_report(s, res.report)
            bar({})
        lap("report")
    store.engine.dispose()
    return res


def _records(store) -> list:
    with store.reader() as s:
        return queries.test_records(s)
