"""Bad inputs to prediction name the offending value."""

from __future__ import annotations

import pytest

from drxlab.exceptions import CompositionError, ConditionError
from drxlab.model.ensemble import Ensemble

LMTO = "Li1.2Mn0.4Ti0.4O2"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rate": 0.0}, "rate=0 mA/g must be > 0"),
        ({"rate": -5.0}, "rate=-5 mA/g must be > 0"),
        ({"v_low": 4.8, "v_high": 1.5}, "v_low=4.8 V >= v_high=1.5 V"),
        ({"v_low": 3.0, "v_high": 3.0}, "v_low=3 V >= v_high=3 V"),
        ({"cycle": 0}, "cycle=0 must be >= 1"),
        ({"rate": float("nan")}, "rate=nan must be a finite"),
    ],
)
@pytest.mark.parametrize("method", ["predict_curves", "predict_capacity"])
def test_bad_conditions(tiny_ensemble: Ensemble, kwargs: dict, fragment: str, method: str) -> None:
    cond = {"rate": 20.0, "v_low": 1.5, "v_high": 4.8, "cycle": 1, **kwargs}
    with pytest.raises(ConditionError, match=fragment.replace("(", r"\(")):
        getattr(tiny_ensemble, method)([LMTO], **cond)


def test_bad_condition_array(tiny_ensemble: Ensemble) -> None:
    with pytest.raises(ConditionError, match="rate=-1"):
        tiny_ensemble.predict_capacity([LMTO, LMTO], [20, -1], 1.5, 4.8, 1)
    with pytest.raises(ConditionError, match="one value per row"):
        tiny_ensemble.predict_capacity([LMTO, LMTO], [20, 30, 40], 1.5, 4.8, 1)


@pytest.mark.parametrize(
    ("comp", "fragment"),
    [
        ("Li1.2Xx0.8O2", "Xx"),
        ("Li2O", "no cations besides Li"),
        ({"Li": 2.0, "O": 2.0}, "no cations besides Li"),
        ({"Li": 1.2, "Og": 0.8, "O": 2.0}, "'Og' is not in the mat2vec"),
    ],
)
def test_bad_compositions(tiny_ensemble: Ensemble, comp: object, fragment: str) -> None:
    with pytest.raises(CompositionError, match=fragment):
        tiny_ensemble.predict_curves([comp], 20, 1.5, 4.8, 1)


def test_rows_share_compositions(tiny_ensemble: Ensemble) -> None:
    rows = [LMTO, "Li1.2 Mn0.4 Ti0.4 O2", {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}]
    p = tiny_ensemble.predict_curves(rows, [20, 20, 1000], 1.5, 4.8, [1, 1, 1], n_points=7)
    assert p.formulas == (LMTO,) * 3
    assert p.q.shape == (2, 3, 7) and p.voltage.shape == (3, 7)
    assert (p.q[:, 0] == p.q[:, 1]).all()
