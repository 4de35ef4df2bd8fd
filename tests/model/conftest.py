"""Fixtures for the model tests: the released ensemble (read once) and a tiny random ensemble."""

from __future__ import annotations

import pytest
import torch

from drxlab.model.drxnet import DRXNet
from drxlab.model.ensemble import Ensemble
from drxlab.model.io import load_released_ensemble
from tests.conftest import UPSTREAM, require_shared

TINY_ARGS = {
    "elem_fea_len": 8,
    "vol_fea_len": 16,
    "rate_fea_len": 4,
    "cycle_fea_len": 4,
    "n_graph": 1,
    "elem_heads": 2,
    "elem_gate": 8,
    "elem_msg": 8,
    "cry_heads": 2,
    "cry_gate": 8,
    "cry_msg": 8,
}


@pytest.fixture(scope="session")
def released() -> Ensemble:
    """The released 5-member DRXNet ensemble from ../shared/drxnet-upstream/pretrained."""
    return load_released_ensemble(require_shared(UPSTREAM / "pretrained"))


@pytest.fixture
def tiny_ensemble() -> Ensemble:
    """Two randomly initialised tiny members (fast; for I/O and shape tests)."""
    torch.manual_seed(0)
    return Ensemble([DRXNet(**TINY_ARGS), DRXNet(**TINY_ARGS)])
