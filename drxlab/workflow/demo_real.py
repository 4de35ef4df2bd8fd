"""The real half of `drxlab demo`: the authors' released DRXNet on the paper's compositions and
on the authors' measured Li1.2Mn0.4Ti0.4O2 cell, before and after first-cycle fine-tuning.

It runs in its own store (``real.sqlite``) so that real measurements and the virtual lab's
data never mix: the virtual round trains on everything in ``demo.sqlite``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlmodel import Session

from drxlab.acquisition.calibration import FALLBACK_REL, MIN_POINTS, conservative_prior
from drxlab.exceptions import DrxlabError
from drxlab.model.ensemble import Ensemble
from drxlab.profiles.importers import read_file
from drxlab.progress import ProgressBar, silent
from drxlab.store import queries
from drxlab.store.db import Store, open_store
from drxlab.workflow import examples, models, results
from drxlab.workflow.log_results import log_results

# the paper's high-entropy DRX predictions (1.5–4.8 V, cycle 1), mAh/g by rate in mA/g
PAPER_HE = (
    ("HE-1", "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2", {20.0: 276.0, 1000.0: 196.0}),
    ("HE-2", "Li1.2Mn0.1Mg0.1Cr0.15V0.15Ti0.2Nb0.1O1.8F0.2", {20.0: 266.0, 1000.0: 171.0}),
)
LMTO_CAMPAIGN = "lmto"
UNLOCK = ("drxlab model pull", "drxlab import --example lmto")


@dataclass
class RealResult:
    """What the real half showed; capacities in mAh/g."""

    db: Path
    released_version: int
    origin: str
    he: list[dict] = field(default_factory=list)
    lmto: list[dict] = field(default_factory=list)  # per cycle: measured, before ± σ, after ± σ
    # what the calibrated σ of the tables is (the real store holds too few measured compositions)
    calibration_note: str = ""
    lmto_file: Path | None = None
    cycle1_file: Path | None = None
    finetuned_version: int | None = None
    mae_before: float = float("nan")  # cycles 2–10, which the fine-tune never saw
    mae_after: float = float("nan")
    timings: dict[str, float] = field(default_factory=dict)


def find_released(user_db: str | None, model_dir: Path | None) -> tuple[Ensemble | None, str]:
    """The released ensemble from ``model_dir`` or, else, the user's store; ``(None, "")`` if neither.

    The user's store is only read (it is not created when absent).
    """
    from drxlab.exceptions import StoreError
    from drxlab.model.io import load_released_ensemble

    if model_dir is not None:
        return load_released_ensemble(model_dir), str(model_dir)
    try:
        store = open_store(user_db, create=False)
    except StoreError:
        return None, ""
    try:
        with store.reader() as s:
            row = next((v for v in queries.model_versions(s) if v.source == "released"), None)
            if row is None:
                return None, ""
            return models.load(row), f"model version {row.id} of {store.url}"
    finally:
        store.engine.dispose()


def missing_hint(have_model: bool, have_lmto: bool) -> list[str]:
    """The commands that unlock what is missing of the real half."""
    return [cmd for cmd, ok in zip(UNLOCK, (have_model, have_lmto)) if not ok]


def run_real(
    out: Path,
    ensemble: Ensemble,
    origin: str,
    lmto: Path | None,
    *,
    seed: int = 0,
    say: Callable[[str], None] = print,
    bars: Callable[..., ProgressBar] = silent,
) -> RealResult:
    """Register the released ensemble in ``out/real.sqlite``; predict HE-1/HE-2; with ``lmto``
    (the authors' measured file), predict cycles 1–10, log cycle 1 only, fine-tune, predict again."""
    db = out / "real.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    store = open_store(db)
    tick = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[name] = now - tick
        tick = now

    with store.transaction() as s:
        row, _ = models.register(s, ensemble, source="released", training={"origin": origin})
    res = RealResult(db, row.id, origin, timings=timings)
    say("1/2 the released DRXNet ensemble on the paper's high-entropy DRX (1.5–4.8 V, cycle 1) …")
    with bars("predicting", len(PAPER_HE) * 2, "condition") as bar:
        for rate in (20.0, 1000.0):
            pred = ensemble.predict_curves([f for _, f, _ in PAPER_HE], rate, 1.5, 4.8, 1)
            # no measured composition: the calibrated σ `drxlab predict` shows for the same call
            _, sd_cal = conservative_prior(pred.capacity_mean).apply(
                np.zeros((len(PAPER_HE), 1)), pred.capacity_mean, pred.capacity_std
            )
            for i, (name, formula, paper) in enumerate(PAPER_HE):
                res.he.append(
                    {
                        "name": name,
                        "formula": formula,
                        "rate": rate,
                        "predicted": float(pred.capacity_mean[i]),
                        "sigma": float(pred.capacity_std[i]),
                        "sigma_calibrated": float(sd_cal[i]),
                        "paper": paper[rate],
                    }
                )
                bar({})
    res.he.sort(key=lambda r: (r["name"], r["rate"]))
    measured = " (none before the LMTO log, one after)" if lmto is not None else " (none)"
    res.calibration_note = (
        f"σ calibrated: fewer than {MIN_POINTS} measured compositions in this store{measured}, so "
        f"calibration is not fitted and the documented conservative prior is used: "
        f"σ = √(σ_Q² + ({FALLBACK_REL:g} × predicted)²), never below σ_Q (as `drxlab predict` shows)"
    )
    lap("HE-1/HE-2")
    if lmto is not None:
        _lmto(store, res, ensemble, lmto, out, seed, say, bars)
        lap("LMTO log + fine-tune")
    store.engine.dispose()
    return res


def _lmto(
    store: Store,
    res: RealResult,
    ensemble: Ensemble,
    path: Path,
    out: Path,
    seed: int,
    say: Callable[[str], None],
    bars: Callable[..., ProgressBar],
) -> None:
    (test,) = read_file(path).tests
    measured = {p.cycle: p.profile.capacity for p in test.profiles}
    cycles = sorted(measured)
    if 1 not in measured or len(cycles) < 2:
        raise DrxlabError(f"{path}: expected discharge cycles 1–10 of one cell; found cycles {cycles}")
    res.lmto_file = path
    say(
        f"2/2 the authors' MEASURED {test.formula} cell ({test.rate:g} mA/g, "
        f"{test.v_low:g}–{test.v_high:g} V, "
        f"cycles {cycles[0]}–{cycles[-1]}): predict, log cycle 1 only, fine-tune, predict again …"
    )

    def predict(ens: Ensemble) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, σ_Q and calibrated σ per cycle; one or no measured composition in the store: the
        conservative prior of each cycle's prediction, as `drxlab predict` gives it cycle by cycle."""
        q = ens.predict_capacity(
            [test.formula] * len(cycles), test.rate, test.v_low, test.v_high, np.array(cycles)
        )
        mean, sd = q.mean(0), q.std(0)
        cal = [
            conservative_prior(mean[i : i + 1]).apply(np.zeros((1, 1)), mean[i : i + 1], sd[i : i + 1])
            for i in range(len(cycles))
        ]
        return mean, sd, np.array([c[1][0] for c in cal])

    with bars("predicting", None, "curve") as bar:
        before = predict(ensemble)
        bar({"advance": len(cycles)})
    # the first cycle alone, as a lab would log it the day the cell finishes its first discharge
    res.cycle1_file = out / f"{path.stem}_cycle1.csv"
    lines = path.read_text().splitlines()
    col = lines[0].split(",").index("cycle")
    first = [ln for ln in lines[1:] if ln.split(",")[col] == "1"]
    res.cycle1_file.write_text("\n".join([lines[0], *first]) + "\n")

    def prepare(s: Session) -> list[results.PendingLog]:
        return [results.prepare_test(s, res.cycle1_file, composition=test.formula, campaign=LMTO_CAMPAIGN)]

    with bars("fine-tuning", None, "epoch") as bar:
        tuned = log_results(
            store, prepare, finetune=True, seed=seed, include_virtual=True, progress=bar
        ).finetuned
    res.finetuned_version = tuned.version.id
    with store.reader() as s:
        _, after_ens = models.resolve(s, res.finetuned_version)
    with bars("predicting", None, "curve") as bar:
        after = predict(after_ens)
        bar({"advance": len(cycles)})
    res.lmto = [
        {
            "cycle": c,
            "measured": measured[c],
            "before": float(before[0][i]),
            "sigma_before": float(before[1][i]),
            "sigma_cal_before": float(before[2][i]),
            "after": float(after[0][i]),
            "sigma_after": float(after[1][i]),
            "sigma_cal_after": float(after[2][i]),
        }
        for i, c in enumerate(cycles)
    ]
    later = [r for r in res.lmto if r["cycle"] > 1]
    res.mae_before = float(np.mean([abs(r["before"] - r["measured"]) for r in later]))
    res.mae_after = float(np.mean([abs(r["after"] - r["measured"]) for r in later]))


def find_lmto(example_dir: Path | None) -> Path | None:
    """The LMTO example in ``example_dir`` (checked against the released sha256) or the cache."""
    return examples.find("lmto", [example_dir] if example_dir is not None else [])
