"""Composition-split evaluation (the paper's Figure 3 protocol).

Train on some composition classes, test on others; per test profile compare the capacity
between 2.0 and 4.4 V and the average voltage over that range with the ensemble mean; report
MAE per class against the MAD baseline (mean absolute deviation of the measured values from
their mean) and the error per cycle with the mean σ_Q.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sqlmodel import Session

from drxlab.exceptions import DrxlabError, TrainingError
from drxlab.model.ensemble import Ensemble
from drxlab.profiles.process import energy_density
from drxlab.store import queries
from drxlab.store.queries import TestRecord

V_RANGE = (2.0, 4.4)  # V: the range the paper compares capacities in
MAX_CYCLE = 50


def window_metrics(
    v: np.ndarray, q: np.ndarray, v_range: tuple[float, float] = V_RANGE
) -> tuple[float, float]:
    """(capacity between the range's voltages, mAh/g; average voltage over it, V) of a Q(V) curve."""
    grid = np.linspace(v_range[0], v_range[1], 60)
    qg = np.interp(grid, v, q)
    cap = float(qg[0] - qg[-1])
    energy = float(energy_density(grid, qg - qg[-1]))  # Q counted from the range's upper voltage
    return cap, energy / cap if cap > 1e-9 else float("nan")


def covers(r: TestRecord, v_range: tuple[float, float] = V_RANGE) -> bool:
    return r.v_low <= v_range[0] + 0.05 and r.v_high >= v_range[1] - 0.05


def evaluate_records(ensemble: Ensemble, records: Sequence[TestRecord]) -> dict:
    """Per-class and per-cycle errors of capacity (2.0–4.4 V) and average voltage."""
    rows = []
    for r in records:
        if not covers(r):
            continue
        cycles = sorted(c for c in r.profiles if c <= MAX_CYCLE)
        if not cycles:
            continue
        pred = ensemble.predict_curves([r.formula] * len(cycles), r.rate, r.v_low, r.v_high, np.array(cycles))
        for k, c in enumerate(cycles):
            v, q, _ = r.profiles[c]
            cap_m, av_m = window_metrics(v, q)
            member = [window_metrics(pred.voltage[k], pred.q[m, k]) for m in range(pred.q.shape[0])]
            caps = np.array([x[0] for x in member])
            cap_p, av_p = window_metrics(pred.voltage[k], pred.q_mean[k])
            rows.append((r.klass, c, cap_m, cap_p, float(caps.std()), av_m, av_p))
    if not rows:
        raise DrxlabError("no test profiles cover 2.0–4.4 V to evaluate on")
    arr = np.array([x[1:] for x in rows], dtype=float)
    klass = np.array([x[0] for x in rows])
    out: dict = {"classes": {}, "cycles": {}}
    for k in sorted(set(klass)):
        a = arr[klass == k]
        out["classes"][k] = {
            "profiles": int(len(a)),
            "capacity_mae_mAh_g": float(np.abs(a[:, 1] - a[:, 2]).mean()),
            "capacity_mad_baseline_mAh_g": float(np.abs(a[:, 1] - a[:, 1].mean()).mean()),
            "avg_voltage_mae_V": _nanmean(np.abs(a[:, 4] - a[:, 5])),
            "avg_voltage_mad_baseline_V": float(np.nanmean(np.abs(a[:, 4] - np.nanmean(a[:, 4])))),
            "sigma_mean_mAh_g": float(a[:, 3].mean()),
        }
    for c in sorted(set(arr[:, 0].astype(int))):
        a = arr[arr[:, 0] == c]
        out["cycles"][int(c)] = {
            "profiles": int(len(a)),
            "capacity_mae_mAh_g": float(np.abs(a[:, 1] - a[:, 2]).mean()),
            "sigma_mean_mAh_g": float(a[:, 3].mean()),
        }
    return out


def _nanmean(x: np.ndarray) -> float | None:
    """Mean of the finite values; None (never NaN) when there is none, e.g. a model whose curves
    never reach the 2.0–4.4 V window's ends."""
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else None


def evaluate_split(
    session: Session,
    *,
    train_classes: Sequence[str],
    test_classes: Sequence[str],
    with_first_cycle: bool,
    members: int,
    epochs: int,
    seed: int,
    size: str,
    include_virtual: bool = True,
    progress: Callable | None = None,
) -> dict:
    """Train on ``train_classes`` (plus the test compositions' first cycle if asked), test on the rest.

    ``include_virtual=False`` leaves virtual-lab tests out of both splits.
    """
    from drxlab.training.trainer import train_ensemble
    from drxlab.workflow.training import MODEL_SIZES, to_test_data

    def records(classes: Sequence[str]) -> list:
        return [
            r
            for r in queries.test_records(session, classes=list(classes))
            if include_virtual or not r.virtual
        ]

    train_r, test_r = records(train_classes), records(test_classes)
    if not train_r or not test_r:
        raise TrainingError(
            f"need tests in both splits: {len(train_r)} in {','.join(train_classes)}, "
            f"{len(test_r)} in {','.join(test_classes)}"
            + ("" if include_virtual else " (virtual-lab tests left out)"),
            option="" if include_virtual else "include_virtual",
            option_use="to use the virtual-lab tests",
        )
    extra = []
    if with_first_cycle:
        extra = [
            queries.TestRecord(
                r.test_id, r.sample_id, r.formula, r.klass, r.rate, r.v_low, r.v_high, {1: r.profiles[1]}
            )
            for r in test_r
            if 1 in r.profiles
        ]
        test_r = [
            queries.TestRecord(
                r.test_id,
                r.sample_id,
                r.formula,
                r.klass,
                r.rate,
                r.v_low,
                r.v_high,
                {c: p for c, p in r.profiles.items() if c > 1},
            )
            for r in test_r
        ]
        test_r = [r for r in test_r if r.profiles]
    ens = train_ensemble(
        to_test_data(train_r + extra),
        members=members,
        epochs=epochs,
        seed=seed,
        model_args=MODEL_SIZES[size] or None,
        progress=progress,
    )
    result = evaluate_records(ens, test_r)
    result.update(
        {
            "train_classes": list(train_classes),
            "test_classes": list(test_classes),
            "with_first_cycle": with_first_cycle,
            "train_tests": len(train_r),
            "test_tests": len(test_r),
        }
    )
    return result
