"""Raw cycler exports (time, voltage, current, cycle) of DRX coin cells, written for tests.

A cell is charged at constant current to the upper cut-off, then discharged along a given Q(V)
curve; the discharge starts below the cut-off by the IR drop, as real cells do (the authors'
LMTO cycle 1 starts at 4.74 V for a 4.8 V cut-off).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def lmto_cycle1(upstream: Path) -> tuple[np.ndarray, np.ndarray]:
    """(V descending, Q mAh/g ascending) of the authors' LMTO cycle-1 discharge (starts at 4.74 V)."""
    with open(upstream / "LMTO_example.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["cycle"] == "1"]
    v = np.array([float(r["Vii"]) for r in rows])
    q = np.array([float(r["Qii"]) for r in rows])
    order = np.argsort(-v)
    return v[order], q[order]


def oracle_cycle1(
    formula: str, rate: float = 20.0, window: tuple[float, float] = (1.5, 4.8), ir_drop: float = 0.06
) -> tuple[np.ndarray, np.ndarray]:
    """(V descending, Q mAh/g) of the virtual lab's noise-free first discharge of ``formula``,
    starting ``ir_drop`` V below the upper cut-off."""
    from drxlab.chem.compositions import amounts
    from drxlab.lab.oracle import synthetic_oracle

    v, q = synthetic_oracle().raw(amounts(formula), rate, window[0], window[1], 1)
    v, q = np.asarray(v, float), np.asarray(q, float)
    order = np.argsort(-v)
    v, q = v[order], q[order] - q[order].min()
    keep = v <= window[1] - ir_drop
    return v[keep], q[keep] - q[keep].min()


def write_raw_cell(
    path: Path,
    v: np.ndarray,
    q: np.ndarray,
    *,
    mass_g: float = 0.0021,
    rate: float = 20.0,
    charge_to: float | None = 4.8,
    points: int = 150,
) -> Path:
    """A cycler CSV (Test_Time(s), Voltage(V), Current(mA), Cycle_Index): an optional CC charge to
    ``charge_to`` V, then the discharge ``v``/``q`` (mAh/g) at ``rate`` mA/g for ``mass_g`` g."""
    i_ma = rate * mass_g
    rows, t = [], 0.0
    if charge_to is not None:
        hours = float(q.max()) / rate
        for k in range(points + 1):
            rows.append((t, 3.0 + (charge_to - 3.0) * k / points, i_ma, 1))
            t += hours * 3600 / points
    t0 = t
    for vk, qk in zip(v, q):
        rows.append((t0 + qk / rate * 3600 + 1.0, vk, -i_ma, 1))
    lines = ["Test_Time(s),Voltage(V),Current(mA),Cycle_Index"]
    lines += [f"{a:.3f},{b:.5f},{c:.6g},{d}" for a, b, c, d in rows]
    path.write_text("\n".join(lines) + "\n")
    return path
