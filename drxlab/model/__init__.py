"""DRXNet: the model, its ensemble and checkpoint input/output."""

from __future__ import annotations

from drxlab.model.drxnet import DRXNet, DRXNetOutput
from drxlab.model.ensemble import Ensemble, Prediction
from drxlab.model.io import (
    ensemble_bytes,
    ensemble_from_bytes,
    ensemble_hash,
    load_ensemble,
    load_released_ensemble,
    load_released_member,
    save_ensemble,
)

__all__ = [
    "DRXNet",
    "DRXNetOutput",
    "Ensemble",
    "Prediction",
    "ensemble_bytes",
    "ensemble_from_bytes",
    "ensemble_hash",
    "load_ensemble",
    "load_released_ensemble",
    "load_released_member",
    "save_ensemble",
]
