"""Training, fine-tuning and the training data of DRXNet ensembles."""

from __future__ import annotations

from drxlab.profiles.records import TestRecord
from drxlab.training.dataset import PointSet, to_points
from drxlab.training.finetune import finetune_ensemble
from drxlab.training.trainer import split_by_composition, train_ensemble

__all__ = [
    "PointSet",
    "TestRecord",
    "finetune_ensemble",
    "split_by_composition",
    "to_points",
    "train_ensemble",
]
