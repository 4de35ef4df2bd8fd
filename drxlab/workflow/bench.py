"""Benchmarks of the product's hot paths, each against a baseline timed in the same run."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from drxlab.acquisition.select import select_batch
from drxlab.bench.feasibility import bench_feasibility
from drxlab.candidates.generator import iter_candidates
from drxlab.candidates.spec import CampaignSpec, Species, load_spec
from drxlab.chem.constants import CATION_SUM, STANDARD_RATE, STANDARD_WINDOW
from drxlab.model.ensemble import Ensemble
from drxlab.threads import apply_threads, decide, usable_cores
from drxlab.workflow.screening import objective_values
from drxlab.workflow.training import FINETUNE_LR_DATA, FINETUNE_MIN_BATCHES_DATA


def bench_space(spec_path: Path, target: int = 100_000) -> CampaignSpec:
    """The campaign's space, widened (species maxima raised) until it holds ≥ ``target`` candidates."""
    spec = load_spec(spec_path)
    for _ in range(12):
        n = sum(len(b) for b in iter_candidates(spec))
        if n >= target:
            return spec
        spec = replace(
            spec,
            species=tuple(
                Species(s.element, s.oxidation_state, min(CATION_SUM, round(s.max_amount + spec.step, 10)))
                for s in spec.species
            ),
        )
    return spec


def _first_blocks(spec: CampaignSpec, limit: int | None) -> list:
    """The first ``limit`` candidates of the space (all when None), as generator blocks."""
    blocks, n_seen = [], 0
    for b in iter_candidates(spec, chunk=20_000):
        if limit is not None and n_seen + len(b) > limit:  # the first `limit` candidates of the space
            b = type(b)(
                b.elements,
                b.species,
                b.units[: limit - n_seen],
                b.amounts[: limit - n_seen],
                b.species_units[: limit - n_seen],
                b.step,
            )
        blocks.append(b)
        n_seen += len(b)
        if limit is not None and n_seen >= limit:
            break
    return blocks


def bench_suggest(ensemble: Ensemble, spec: CampaignSpec, batch: int = 8, limit: int | None = None) -> dict:
    """Time enumeration, prediction and acquisition of one suggestion round over a whole space.

    Baseline (same run): the same candidates scored one composition per ensemble call, as a
    per-composition loop would, timed on a 200-candidate sample and extrapolated.
    """
    t0 = time.perf_counter()
    blocks = _first_blocks(spec, limit)
    t_enum = time.perf_counter() - t0
    xs, ys = [], []
    t1 = time.perf_counter()
    for b in blocks:
        comps = [{el: a for el, a in zip(b.elements, r) if a > 0} for r in b.amounts.tolist()]
        ys.append(objective_values(ensemble, comps, spec.objectives[0])[..., None])
        xs.append(b.amounts)
    t_pred = time.perf_counter() - t1
    X, Y = np.concatenate(xs), np.concatenate(ys, axis=1)
    t2 = time.perf_counter()
    sel = select_batch(X, Y, kind="ucb", batch=batch, kappa=2.0, min_distance=0.1, seed=0)
    t_acq = time.perf_counter() - t2
    calibrated = _calibrated_acquisition(X, Y, batch)
    sp = np.concatenate([b.species_units * b.step for b in blocks])
    feas = bench_feasibility(blocks[0].elements, blocks[0].species, X, sp, Y, batch=batch)
    n = len(X)
    sample = [{el: a for el, a in zip(blocks[0].elements, r) if a > 0} for r in X[:200].tolist()]
    t3 = time.perf_counter()
    for c in sample:
        objective_values(ensemble, [c], spec.objectives[0])
    t_base = (time.perf_counter() - t3) / len(sample) * n
    total = t_enum + t_pred + t_acq
    return {
        "candidates": n,
        "total_s": total,
        "enumeration_s": t_enum,
        "prediction_s": t_pred,
        "acquisition_s": t_acq,
        "enumeration_share": t_enum / total,
        "prediction_share": t_pred / total,
        "acquisition_share": t_acq / total,
        "candidates_per_s": n / total,
        "picked": len(sel),
        "baseline_per_composition_s": t_base,
        "speedup_vs_per_composition": t_base / total,
        **calibrated,
        **{f"total_{k}_s": total - t_acq + calibrated[f"acquisition_{k}_s"] for k in ("scale", "gp")},
        # calibration on vs off, same run: total time with it over total time without
        **{
            f"total_{k}_over_raw": 1 + (calibrated[f"acquisition_{k}_s"] - t_acq) / total
            for k in ("scale", "gp")
        },
        # UCB with vs without P(feasible) on the same candidates in this run
        **{k: v for k, v in feas.items() if k not in ("candidates", "acquisition_s", "labelled")},
    }


CALIBRATION_POINTS = 40  # measured compositions the bench's calibrations are fitted on


def _calibrated_acquisition(X: np.ndarray, Y: np.ndarray, batch: int) -> dict:
    """Seconds to fit each calibration (on :data:`CALIBRATION_POINTS` pseudo-measurements with
    errors of ~30 mAh/g), calibrate every candidate's posterior and select the same UCB batch:
    the calibration-on counterpart of the raw ``acquisition_s``."""
    from drxlab.acquisition.calibration import calibrated_members, fit

    rng = np.random.default_rng(0)
    Xf = np.hstack([X, np.zeros((len(X), 1))])
    mean, std = Y[..., 0].mean(0), Y[..., 0].std(0)
    idx = rng.choice(len(X), CALIBRATION_POINTS, replace=False)
    resid = rng.normal(0.0, 30.0, len(idx))
    out = {}
    for method in ("scale", "gp"):
        t = time.perf_counter()
        cal = fit(method, Xf[idx], resid, std[idx], typical=float(abs(np.median(mean))) or 1.0)
        m, sd = cal.apply(Xf, mean, std)
        Yc = Y.copy()
        Yc[..., 0] = calibrated_members(Y[..., 0], m, sd)
        select_batch(X, Yc, kind="ucb", batch=batch, kappa=2.0, min_distance=0.1, seed=0)
        out[f"acquisition_{method}_s"] = time.perf_counter() - t
    return out


def _time_suggest(ensemble: Ensemble, spec: CampaignSpec, limit: int, batch: int = 8) -> tuple[float, int]:
    """Seconds to enumerate, predict and select one batch over the first ``limit`` candidates."""
    t0 = time.perf_counter()
    blocks = _first_blocks(spec, limit)
    ys, xs = [], []
    for b in blocks:
        comps = [{el: a for el, a in zip(b.elements, r) if a > 0} for r in b.amounts.tolist()]
        ys.append(objective_values(ensemble, comps, spec.objectives[0])[..., None])
        xs.append(b.amounts)
    select_batch(
        np.concatenate(xs),
        np.concatenate(ys, axis=1),
        kind="ucb",
        batch=batch,
        kappa=2.0,
        min_distance=0.1,
        seed=0,
    )
    return time.perf_counter() - t0, sum(len(x) for x in xs)


BUSY_LOOP = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"


def start_load(processes: int, max_seconds: float = 1800.0) -> list[subprocess.Popen]:
    """Start ``processes`` CPU-bound busy loops, each ending by itself after ``max_seconds``."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", BUSY_LOOP.format(s=max_seconds)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


def bench_suggest_load(
    ensemble: Ensemble,
    spec: CampaignSpec,
    *,
    load: int = 1,
    limit: int = 10_000,
    baseline_limit: int = 1000,
    settle_s: float = 1.0,
) -> dict:
    """``suggest`` alone and beside ``load`` CPU-bound processes, with drxlab's thread choice and
    with torch's default (one thread per core), in one run.

    drxlab's choice is made afresh before each timing, as a new ``drxlab suggest`` would make it.
    torch's default is timed on the first ``baseline_limit`` candidates only (beside a load it can
    be tens of times slower); every figure is also given per candidate.
    """
    cores = usable_cores()
    out: dict = {"cores": cores, "competing_processes": load}

    def timed(key: str, threads: int, n: int, busy: float | None, source: str = "torch default") -> None:
        apply_threads(threads)
        out[f"{key}_threads_from"] = source
        _time_suggest(ensemble, spec, 64)  # warm-up at this thread count
        t, n_done = _time_suggest(ensemble, spec, n)
        out.update(
            {
                f"{key}_threads": threads,
                f"{key}_busy_cores": busy,
                f"{key}_s": t,
                f"{key}_candidates": n_done,
                f"{key}_candidates_per_s": n_done / t,
            }
        )

    choice = decide()
    timed("drxlab_alone", choice.threads, limit, choice.busy, choice.source)
    timed("default_alone", cores, baseline_limit, None)
    procs = start_load(load)
    try:
        time.sleep(settle_s)
        choice = decide()
        timed("drxlab_loaded", choice.threads, limit, choice.busy, choice.source)
        timed("default_loaded", cores, baseline_limit, None)
    finally:
        stop_load(procs)
    per = {
        k: out[f"{k}_s"] / out[f"{k}_candidates"]
        for k in ("drxlab_alone", "drxlab_loaded", "default_alone", "default_loaded")
    }
    out["drxlab_loaded_vs_alone"] = per["drxlab_loaded"] / per["drxlab_alone"]
    out["default_loaded_vs_alone"] = per["default_loaded"] / per["default_alone"]
    out["loaded_speedup_vs_default"] = per["default_loaded"] / per["drxlab_loaded"]
    return out


def bench_finetune(ensemble: Ensemble, *, epochs: int = 20, seed: int = 0) -> dict:
    """Fine-tune on 8 new first-cycle profiles (synthetic HE lab) with replay; time it.

    Baseline (same run): one ensemble prediction of the same 8 profiles, so the figure reads
    as "fine-tuning costs N predictions".
    """
    from drxlab.lab.noise import NoiseModel, measure
    from drxlab.lab.synthetic import synthetic_raw_profile
    from drxlab.profiles.process import process_segment
    from drxlab.profiles.records import TestRecord
    from drxlab.training.finetune import finetune_ensemble
    from drxlab.workflow.lab import seed_compositions
    from drxlab.workflow.training import pseudo_replay

    rng = np.random.default_rng(seed)
    new = []
    for amts in seed_compositions(8, ["HE"], rng):
        m = measure(
            synthetic_raw_profile,
            amts,
            STANDARD_RATE,
            *STANDARD_WINDOW,
            [1],
            NoiseModel(failure_rate=0.0),
            rng,
        )
        p = process_segment(m.profiles[0][1], m.profiles[0][2])
        from drxlab.chem.compositions import format_formula

        new.append(
            TestRecord(
                formula=format_formula(amts),
                rate=STANDARD_RATE,
                v_low=STANDARD_WINDOW[0],
                v_high=STANDARD_WINDOW[1],
                profiles={1: (p.voltage, p.capacity_curve, p.dqdv)},
            )
        )
    replay = pseudo_replay(ensemble, 24, seed)
    t0 = time.perf_counter()
    ensemble.predict_curves([d.formula for d in new], STANDARD_RATE, *STANDARD_WINDOW, 1)
    t_pred = time.perf_counter() - t0
    t1 = time.perf_counter()
    finetune_ensemble(ensemble, new, replay, epochs=epochs, seed=seed)
    t_ft = time.perf_counter() - t1
    # the path `drxlab finetune` takes when the old tests are in the store
    t2 = time.perf_counter()
    finetune_ensemble(
        ensemble,
        new,
        replay,
        epochs=epochs,
        seed=seed,
        replay_targets="data",
        lr=FINETUNE_LR_DATA,
        min_batches=FINETUNE_MIN_BATCHES_DATA,
    )
    t_data = time.perf_counter() - t2
    return {
        "members": len(ensemble),
        "new_profiles": len(new),
        "replay_tests": len(replay),
        "epochs": epochs,
        "finetune_parent_replay_s": t_ft,
        "finetune_stored_replay_s": t_data,
        "prediction_s": t_pred,
        "finetune_vs_prediction": max(t_ft, t_data) / t_pred,
        "budget_s": 60.0,
        "share_of_budget": max(t_ft, t_data) / 60.0,
    }
