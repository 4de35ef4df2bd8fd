"""Acquisition: rank precomputed ensemble predictions with BoTorch and pick diverse batches.

Receives plain arrays (candidate features, member predictions); never imports the store, the CLI
or the model package.
"""
from __future__ import annotations

from drxlab.acquisition.botorch_model import PopulationEnsemblePosterior, PrecomputedEnsembleModel
from drxlab.acquisition.domain import (
    DISTANCE_THRESHOLD,
    SIGMA_FACTOR,
    domain_flag,
    nearest_known,
    sigma_threshold,
)
from drxlab.acquisition.select import KINDS, Selection, hypervolume_contributions, select_batch

__all__ = [
    "DISTANCE_THRESHOLD",
    "KINDS",
    "SIGMA_FACTOR",
    "PopulationEnsemblePosterior",
    "PrecomputedEnsembleModel",
    "Selection",
    "domain_flag",
    "hypervolume_contributions",
    "nearest_known",
    "select_batch",
    "sigma_threshold",
]
