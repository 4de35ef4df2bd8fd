"""Standardised profiles out as a DRXNet point CSV, the format :mod:`.importers.drxnet_csv` reads back.

One row per voltage point: ``material_id,composition,V_low,V_high,rate,cycle,Vii,Q0ii,Qii,dQdVii``
(V, mAh/g, mAh/g/V, mA/g); ``Q0ii`` is the first exported cycle's capacity at the same voltage, as
in the authors' files.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Protocol, TextIO

import numpy as np

HEADER = ("material_id", "composition", "V_low", "V_high", "rate", "cycle", "Vii", "Q0ii", "Qii", "dQdVii")


class ExportableTest(Protocol):
    """What a test needs to be written: conditions and ``{cycle: (V, Q, dQ/dV)}`` profiles."""

    test_id: int
    formula: str
    v_low: float
    v_high: float
    rate: float
    profiles: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]


def write_drxnet_csv(tests: Iterable[ExportableTest], fh: TextIO) -> int:
    """Write ``tests`` to ``fh``; returns the number of profiles written."""
    w = csv.writer(fh)
    w.writerow(HEADER)
    n = 0
    for t in tests:
        v1, q1, _ = t.profiles[min(t.profiles)]
        for cycle, (v, q, d) in sorted(t.profiles.items()):
            q0 = np.interp(v, v1, q1)
            w.writerows(
                [
                    t.test_id,
                    t.formula,
                    t.v_low,
                    t.v_high,
                    t.rate,
                    cycle,
                    f"{v[i]:.6g}",
                    f"{q0[i]:.6g}",
                    f"{q[i]:.6g}",
                    f"{d[i]:.6g}",
                ]
                for i in range(len(v))
            )
            n += 1
    return n
