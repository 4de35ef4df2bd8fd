"""The virtual lab: a synthetic DRX oracle and the noise that turns its curves into measurements."""

from __future__ import annotations

from drxlab.lab.noise import Measurement, NoiseModel, measure
from drxlab.lab.synthetic import synthetic_raw_profile, true_capacities, true_capacity

__all__ = [
    "Measurement",
    "NoiseModel",
    "measure",
    "synthetic_raw_profile",
    "true_capacities",
    "true_capacity",
]
