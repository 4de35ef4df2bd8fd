"""Scoring a whole candidate space with the ensemble: member predictions per objective.

The screen streams candidate chunks from the generator and evaluates only what each objective
needs (capacity at V_low for capacity / retention / cycle objectives; coarse curves for energy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from drxlab.candidates.generator import iter_candidates
from drxlab.candidates.spec import CampaignSpec, Objective
from drxlab.model.ensemble import Ensemble

ENERGY_POINTS = 25  # voltage points per curve when screening energy density


@dataclass(frozen=True)
class Screen:
    """A scored candidate space.

    Attributes:
        elements: column order of ``X``.
        X: ``n x d`` element amounts per formula unit.
        Y: ``s x n x m`` member predictions per objective (spec order; objective units).
        species: species labels; ``species_amounts``: ``n x k`` balancing assignment (per f.u.).
        chunk: candidates per block the space was predicted in (the round's posterior transform
            is applied in the same blocks; see :mod:`drxlab.acquisition.posterior`).
    """

    elements: tuple[str, ...]
    X: np.ndarray
    Y: np.ndarray
    species: tuple[str, ...]
    species_amounts: np.ndarray
    chunk: int = 20_000

    @property
    def size(self) -> int:
        """Candidates in the space (a distributed screen keeps only its best rows in ``X``)."""
        return len(self.X)

    def primary_median(self) -> float:
        """Median over the space of the primary objective's ensemble mean."""
        return float(np.median(self.Y[..., 0].mean(0)))

    def sigma_median(self) -> float:
        """Median over the space of the primary objective's ensemble σ (population)."""
        return float(np.median(self.Y[..., 0].std(0)))


def objective_values(ensemble: Ensemble, comps: list[dict], obj: Objective) -> np.ndarray:
    """Member predictions ``s x n`` of one objective (mAh/g, mWh/g or a ratio)."""
    v_low, v_high = obj.window
    if obj.kind == "energy":
        return ensemble.predict_curves(
            comps, obj.rate, v_low, v_high, obj.cycle, n_points=ENERGY_POINTS
        ).energy
    cap = ensemble.predict_capacity(comps, obj.rate, v_low, v_high, obj.cycle)
    if obj.kind == "retention":
        base = ensemble.predict_capacity(comps, obj.base_rate, v_low, v_high, obj.cycle)
        return cap / np.maximum(base, 1e-6)
    return cap


def screen(
    spec: CampaignSpec,
    ensemble: Ensemble,
    *,
    chunk: int = 20_000,
    on_chunk: Callable[[int], None] | None = None,
) -> Screen:
    """Enumerate the campaign's space and predict every objective for every candidate."""
    xs, ys, sps = [], [], []
    elements: tuple[str, ...] = ()
    species: tuple[str, ...] = ()
    for block in iter_candidates(spec, chunk=chunk):
        elements, species = block.elements, block.species
        comps = [{el: a for el, a in zip(elements, row) if a > 0} for row in block.amounts.tolist()]
        ys.append(np.stack([objective_values(ensemble, comps, o) for o in spec.objectives], axis=-1))
        xs.append(block.amounts)
        sps.append(block.species_units * block.step)
        if on_chunk:
            on_chunk(len(block))
    return Screen(
        elements, np.concatenate(xs), np.concatenate(ys, axis=1), species, np.concatenate(sps), chunk
    )


def features(elements: tuple[str, ...], amounts: dict[str, float]) -> np.ndarray:
    """A composition as a row over ``elements`` plus one column of everything else (for L1)."""
    row = [float(amounts.get(el, 0.0)) for el in elements]
    rest = sum(a for el, a in amounts.items() if el not in elements)
    return np.array(row + [rest])
