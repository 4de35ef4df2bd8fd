"""Collateral drift of a model update: how much a fine-tune moved predictions far from its data.

A logged result should teach the model about its composition and its neighbours, not repaint
the whole space. The drift of a version is the mean |Δ predicted capacity| (mAh/g, ensemble
mean, parent → child) over a fixed set of compositions far from every composition the update
learned from (L1 distance of element amounts > :data:`FAR_L1`), at cycle 1 and cycle 50, 20 mA/g,
1.5–4.8 V. The set is drawn once from a fixed seed (2TM, 3TM and high-entropy DRX), so the
figure compares across versions.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from drxlab.chem import compositions
from drxlab.chem.constants import STANDARD_WINDOW
from drxlab.model.ensemble import Ensemble

__all__ = ["FAR_L1", "drift", "far_set"]

FAR_L1 = 0.5
DRIFT_POOL = 400  # compositions drawn before the distance filter
DRIFT_SEED = 16
DRIFT_RATE = 20.0  # mA/g
DRIFT_CYCLES = (1, 50)


def _l1(a: dict[str, float], b: dict[str, float]) -> float:
    return float(sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b)))


def far_set(learned: Iterable[str | dict]) -> list[dict[str, float]]:
    """The fixed drift compositions at L1 distance > :data:`FAR_L1` from every ``learned`` one."""
    from drxlab.workflow.lab import seed_compositions

    pool = seed_compositions(DRIFT_POOL, ["2TM", "3TM", "HE"], np.random.default_rng(DRIFT_SEED))
    near = [compositions.amounts(c) for c in learned]
    return [c for c in pool if all(_l1(c, n) > FAR_L1 for n in near)]


def drift(parent: Ensemble, child: Ensemble, learned: Iterable[str | dict]) -> dict[str, float | int]:
    """Mean, median and 90th percentile |Δ capacity| (mAh/g) at cycles 1 and 50 over :func:`far_set`."""
    far = far_set(learned)
    out: dict[str, float | int] = {"n_far": len(far), "far_l1": FAR_L1}
    if not far:
        return out
    for cycle in DRIFT_CYCLES:
        args = (far, DRIFT_RATE, *STANDARD_WINDOW, cycle)
        delta = np.abs(child.predict_capacity(*args).mean(0) - parent.predict_capacity(*args).mean(0))
        out[f"cycle{cycle}_mean_mAh_g"] = float(delta.mean())
        out[f"cycle{cycle}_median_mAh_g"] = float(np.median(delta))
        out[f"cycle{cycle}_p90_mAh_g"] = float(np.quantile(delta, 0.9))
    return out
