"""Composition-split evaluation (the paper's Figure 3 protocol).

Train on some composition classes, test on others; per test profile compare the capacity
between 2.0 and 4.4 V and the average voltage over that range with the ensemble mean; report
MAE per class against the MAD baseline (mean absolute deviation of the measured values from
their mean) and the error per cycle with the mean σ_Q.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session

from drxlab.exceptions import DrxlabError, TrainingError
from drxlab.model.ensemble import Ensemble
from drxlab.profiles.process import energy_density
from drxlab.profiles.records import TestRecord
from drxlab.progress import Progress
from drxlab.store import queries

V_RANGE = (2.0, 4.4)  # V: the range the paper compares capacities in
MAX_CYCLE = 50


@dataclass(frozen=True)
class ClassScore:
    """Errors on the test profiles of one composition class, with the MAD baselines."""

    profiles: int
    capacity_mae: float  # mAh/g, 2.0–4.4 V
    capacity_mad_baseline: float  # mAh/g: mean absolute deviation of the measured values
    avg_voltage_mae: float | None  # V; None when no curve spans the range
    avg_voltage_mad_baseline: float  # V
    sigma_mean: float  # mean σ_Q, mAh/g

    def as_dict(self) -> dict[str, Any]:
        return {
            "profiles": self.profiles,
            "capacity_mae_mAh_g": self.capacity_mae,
            "capacity_mad_baseline_mAh_g": self.capacity_mad_baseline,
            "avg_voltage_mae_V": self.avg_voltage_mae,
            "avg_voltage_mad_baseline_V": self.avg_voltage_mad_baseline,
            "sigma_mean_mAh_g": self.sigma_mean,
        }


@dataclass(frozen=True)
class CycleScore:
    """Capacity error on the test profiles of one cycle number."""

    profiles: int
    capacity_mae: float  # mAh/g
    sigma_mean: float  # mean σ_Q, mAh/g

    def as_dict(self) -> dict[str, Any]:
        return {
            "profiles": self.profiles,
            "capacity_mae_mAh_g": self.capacity_mae,
            "sigma_mean_mAh_g": self.sigma_mean,
        }


@dataclass(frozen=True)
class Evaluation:
    """A composition-split evaluation: scores per class and per cycle, and what was split."""

    classes: dict[str, ClassScore]
    cycles: dict[int, CycleScore]
    train_classes: tuple[str, ...] = ()
    test_classes: tuple[str, ...] = ()
    with_first_cycle: bool = False
    train_tests: int = 0
    test_tests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "classes": {k: v.as_dict() for k, v in self.classes.items()},
            "cycles": {k: v.as_dict() for k, v in self.cycles.items()},
            "train_classes": list(self.train_classes),
            "test_classes": list(self.test_classes),
            "with_first_cycle": self.with_first_cycle,
            "train_tests": self.train_tests,
            "test_tests": self.test_tests,
        }


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


def evaluate_records(ensemble: Ensemble, records: Sequence[TestRecord]) -> Evaluation:
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
    classes, by_cycle = {}, {}
    for k in sorted(set(klass)):
        a = arr[klass == k]
        classes[str(k)] = ClassScore(
            int(len(a)),
            float(np.abs(a[:, 1] - a[:, 2]).mean()),
            float(np.abs(a[:, 1] - a[:, 1].mean()).mean()),
            _nanmean(np.abs(a[:, 4] - a[:, 5])),
            float(np.nanmean(np.abs(a[:, 4] - np.nanmean(a[:, 4])))),
            float(a[:, 3].mean()),
        )
    for c in sorted(set(arr[:, 0].astype(int))):
        a = arr[arr[:, 0] == c]
        by_cycle[int(c)] = CycleScore(
            int(len(a)), float(np.abs(a[:, 1] - a[:, 2]).mean()), float(a[:, 3].mean())
        )
    return Evaluation(classes, by_cycle)


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
    progress: Progress | None = None,
) -> Evaluation:
    """Train on ``train_classes`` (plus the test compositions' first cycle if asked), test on the rest.

    ``include_virtual=False`` leaves virtual-lab tests out of both splits.
    """
    from drxlab.training.trainer import train_ensemble
    from drxlab.workflow.training import MODEL_SIZES

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
        extra = [dataclasses.replace(r, profiles={1: r.profiles[1]}) for r in test_r if 1 in r.profiles]
        test_r = [
            dataclasses.replace(r, profiles={c: p for c, p in r.profiles.items() if c > 1}) for r in test_r
        ]
        test_r = [r for r in test_r if r.profiles]
    ens = train_ensemble(
        train_r + extra,
        members=members,
        epochs=epochs,
        seed=seed,
        model_args=MODEL_SIZES[size] or None,
        progress=progress,
    )
    scores = evaluate_records(ens, test_r)
    return Evaluation(
        scores.classes,
        scores.cycles,
        tuple(train_classes),
        tuple(test_classes),
        with_first_cycle,
        len(train_r),
        len(test_r),
    )
