"""Oracles of the virtual lab: noise-free "truth" for a composition at given test conditions.

An :class:`Oracle` returns raw discharge segments (V descending, Q ascending from 0, mAh/g)
like a cycler would, and noise-free capacities for whole candidate spaces. Two kinds:
``synthetic`` (the embedded DRX emulator) and ``drxnet`` (a DRXNet ensemble, one member or the
mean, as ground truth).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from drxlab.lab import synthetic
from drxlab.model.ensemble import Ensemble

RAW_POINTS = 300  # points of a raw segment produced by an ensemble oracle

RawFn = Callable[[Mapping[str, float], float, float, float, int], tuple[np.ndarray, np.ndarray]]
CapacityFn = Callable[[Sequence[Mapping[str, float]], float, float, float, int], np.ndarray]


@dataclass(frozen=True)
class Oracle:
    """A virtual lab's ground truth.

    Attributes:
        name: ``"synthetic"`` or ``"drxnet:<version>[/member]"``.
        raw: ``(amounts, rate mA/g, v_low V, v_high V, cycle) -> (V, Q)`` raw segment.
        capacities: noise-free capacities (mAh/g) of many compositions at one condition.
    """

    name: str
    raw: RawFn
    capacities: CapacityFn


def synthetic_oracle() -> Oracle:
    """The embedded physics-informed DRX emulator (:mod:`drxlab.lab.synthetic`)."""
    return Oracle(
        "synthetic",
        synthetic.synthetic_raw_profile,
        lambda comps, rate, lo, hi, cyc: synthetic.true_capacities(comps, rate, lo, hi, cyc, on_error="nan"),
    )


def ensemble_oracle(ensemble: Ensemble, name: str, member: int | None = None) -> Oracle:
    """A DRXNet ensemble as ground truth: member ``member`` or, when None, the ensemble mean."""

    def pick(values: np.ndarray) -> np.ndarray:
        return values[member] if member is not None else values.mean(axis=0)

    def raw(amts: Mapping[str, float], rate: float, v_low: float, v_high: float, cycle: int):
        pred = ensemble.predict_curves([dict(amts)], rate, v_low, v_high, cycle, n_points=RAW_POINTS)
        v, q = pred.voltage[0], pick(pred.q)[0]
        # the model's own Q(V), not shifted to 0 at V_high, so measured = predicted without noise
        return v[::-1].copy(), q[::-1].copy()

    def capacities(comps, rate, v_low, v_high, cycle) -> np.ndarray:
        return pick(ensemble.predict_capacity([dict(c) for c in comps], rate, v_low, v_high, cycle))

    return Oracle(name, raw, capacities)
