"""Typed model metrics: every recorded shape reads and writes back unchanged, and renders as values."""

from __future__ import annotations

import math

import pytest

from drxlab.workflow.metrics import CapacityError, ModelMetrics

TRAINED = {
    "train": {"n": 40, "mae": 12.3456789, "sigma": 4.56789},
    "validation": {"n": 8, "mae": 20.0, "sigma": 5.0},
    "validation_current": {"n": 8, "mae": 15.0, "sigma": 4.0, "version": 3},
}
FINETUNED = {
    "new_before": {"n": 1, "mae": 40.0, "sigma": 9.0},
    "new_after": {"n": 1, "mae": 4.0, "sigma": 3.0},
    "heldout_old_before": {"n": 0, "mae": None, "sigma": None},
    "heldout_old_after": {"n": 0, "mae": None, "sigma": None},
    "replay": "stored tests",
}


@pytest.mark.parametrize("recorded", [TRAINED, FINETUNED, {"val_mae_mAh_g": 21.5}, {}])
def test_recorded_metrics_round_trip(recorded: dict) -> None:
    assert ModelMetrics.from_dict(recorded).as_dict() == recorded


def test_splits_are_values_and_nan_is_missing() -> None:
    m = ModelMetrics.from_dict(TRAINED | {"train": {"n": 0, "mae": math.nan, "sigma": math.nan}})
    assert m.error("train") == CapacityError(0, None, None)
    assert m.error("validation_current").version == 3 and m.error("replay") is None
    assert m.worse_than_current()  # 20.0 > 15.0 on the same held-out compositions
    assert not ModelMetrics.from_dict(FINETUNED).worse_than_current()


def test_rendering_has_no_raw_dicts_or_long_floats() -> None:
    text = ModelMetrics.from_dict(TRAINED).text()
    assert text.startswith("training data: MAE 12.3 mAh/g, mean σ_Q 4.6 mAh/g (40 profiles)")
    assert "version 3, held-out compositions: MAE 15.0 mAh/g" in text
    assert "{" not in text and "12.345" not in text
    assert "held-out old data, after: no profiles" in ModelMetrics.from_dict(FINETUNED).text()
    assert ModelMetrics.from_dict({}).text() is None
