"""One measured (or predicted) galvanostatic test with its standardised profiles: the record the
store's queries return, a logged result carries before it is written, and the trainer consumes.

Example:
    >>> v = np.linspace(1.5, 4.8, 100); q = 250 * (4.8 - v) / 3.3
    >>> t = TestRecord("Li1.2Mn0.4Ti0.4O2", 20.0, 1.5, 4.8, {1: (v, q, np.full(100, -75.8))})
    >>> t.test_id is None, sorted(t.profiles)
    (True, [1])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

CycleProfile = tuple[np.ndarray, np.ndarray, np.ndarray]  # (V ascending, Q mAh/g, dQ/dV mAh/g/V)


@dataclass(frozen=True)
class TestRecord:
    """One discharge test: a composition at one rate and window, a standardised profile per cycle.

    Attributes:
        formula: target composition (any formula pymatgen parses; normalised on use).
        rate: current rate, mA/g.
        v_low: lower cutoff voltage, V.
        v_high: upper cutoff voltage, V.
        profiles: cycle number -> ``(V, Q, dQ/dV)``: V ascending (100 points), Q in mAh/g,
            dQ/dV in mAh/g/V.
        test_id: its id in the store; None for a test that is not stored (e.g. a model's own
            curves used as replay), a negative stand-in for one about to be written.
        sample_id: its sample in the store, if any.
        klass: composition class (2TM, 3TM, HE), if known.
        virtual: measured by the virtual lab.
    """

    __test__ = False  # not a pytest test class

    formula: str
    rate: float
    v_low: float
    v_high: float
    profiles: Mapping[int, CycleProfile]
    test_id: int | None = None
    sample_id: int | None = None
    klass: str = ""
    virtual: bool = False
