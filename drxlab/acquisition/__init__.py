"""Acquisition: rank precomputed ensemble predictions with BoTorch and pick diverse batches.

Receives plain arrays (candidate features, member predictions); never imports the store, the CLI
or the model package. Names load on first use (PEP 562), so that
importing a light submodule (domain flags) does not import torch and BoTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "PopulationEnsemblePosterior": "botorch_model",
    "PrecomputedEnsembleModel": "botorch_model",
    "DISTANCE_THRESHOLD": "domain",
    "SIGMA_FACTOR": "domain",
    "domain_flag": "domain",
    "nearest_known": "domain",
    "sigma_threshold": "domain",
    "KINDS": "select",
    "Selection": "select",
    "hypervolume_contributions": "select",
    "select_batch": "select",
}

__all__ = (
    "PopulationEnsemblePosterior",
    "PrecomputedEnsembleModel",
    "DISTANCE_THRESHOLD",
    "SIGMA_FACTOR",
    "domain_flag",
    "nearest_known",
    "sigma_threshold",
    "KINDS",
    "Selection",
    "hypervolume_contributions",
    "select_batch",
)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
