"""Profile processing recovers a known discharge curve from noisy raw points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drxlab.exceptions import ProfileError
from drxlab.profiles.process import N_POINTS, average_voltage, from_standardised, process_segment


def analytic(v: np.ndarray, cap: float = 260.0, v0: float = 3.0, w: float = 0.35) -> np.ndarray:
    """Logistic Q(V), zero at the top of the segment, mAh/g."""
    q = cap / (1 + np.exp((v - v0) / w))
    return q - cap / (1 + np.exp((v.max() - v0) / w))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_profile_recovers_capacity_and_dqdv(seed: int) -> None:
    rng = np.random.default_rng(seed)
    v = np.linspace(4.7, 1.5, 600)
    q = analytic(v)
    p = process_segment(v + rng.normal(0, 0.002, v.size), q + rng.normal(0, 1.0, v.size))
    assert p.voltage.shape == (N_POINTS,)
    assert np.all(np.diff(p.voltage) > 0)
    assert abs(p.capacity / q[-1] - 1) < 0.01
    true_dqdv = np.gradient(np.interp(p.voltage, v[::-1], q[::-1]), p.voltage)
    assert np.corrcoef(p.dqdv, true_dqdv)[0, 1] > 0.99


def test_average_voltage_of_a_linear_curve_is_the_midpoint() -> None:
    v = np.linspace(2.0, 4.0, 100)
    q = 200 * (4.0 - v) / 2.0
    assert average_voltage(v, q) == pytest.approx(3.0, abs=1e-6)


def test_shuffled_and_non_finite_points_are_cleaned() -> None:
    v = np.linspace(4.5, 2.0, 300)
    q = analytic(v)
    order = np.random.default_rng(0).permutation(v.size)
    v2, q2 = v[order].copy(), q[order].copy()
    v2[:5] = np.nan
    p = process_segment(v2, q2)
    assert abs(p.capacity / q[-1] - 1) < 0.01


def test_too_few_points_is_an_error() -> None:
    with pytest.raises(ProfileError, match="need at least"):
        process_segment(np.array([4.0, 3.0, 2.0]), np.array([0.0, 50.0, 100.0]))


def test_standardised_profile_rejects_nan_and_negative() -> None:
    v = np.linspace(1.5, 4.8, 100)
    q = np.linspace(250, 0, 100)
    with pytest.raises(ProfileError, match="non-finite"):
        from_standardised(v, np.where(v > 3, np.nan, q), -np.ones(100))
    with pytest.raises(ProfileError, match="negative"):
        from_standardised(v, q - 10, -np.ones(100))


@settings(max_examples=30, deadline=None)
@given(cap=st.floats(50, 350), v0=st.floats(2.2, 3.8), w=st.floats(0.15, 0.6), noise=st.floats(0, 2.0))
def test_processed_profile_is_monotone_and_non_negative(
    cap: float, v0: float, w: float, noise: float
) -> None:
    v = np.linspace(4.8, 1.5, 400)
    q = analytic(v, cap, v0, w) + np.random.default_rng(0).normal(0, noise, v.size)
    p = process_segment(v, q)
    assert np.all(p.capacity_curve >= 0)
    assert np.all(np.diff(p.capacity_curve) <= 1e-9)
    assert np.all(p.dqdv <= 0)
