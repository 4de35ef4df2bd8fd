"""Training, fine-tuning and the training data of DRXNet ensembles."""

from __future__ import annotations

from drxlab.training.dataset import PointSet, TestData, to_points
from drxlab.training.finetune import finetune_ensemble
from drxlab.training.trainer import split_by_composition, train_ensemble

__all__ = ["PointSet", "TestData", "finetune_ensemble", "split_by_composition", "to_points", "train_ensemble"]
