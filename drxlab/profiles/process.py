"""Turn a raw discharge segment into the standardised profile of the DRXNet paper (Methods).

A raw segment is measured voltage V (V) against discharged capacity Q (mAh/g). The paper
denoises it with a smoothing spline, resamples it to 100 points uniformly spaced in V and
computes dQ/dV on those points. Capacity of the test is Q at the low end of the window.

Example:
    >>> import numpy as np
    >>> v = np.linspace(4.6, 1.5, 400); q = 250 * (4.6 - v) / 3.1
    >>> p = process_segment(v, q)
    >>> round(p.capacity, 1), p.voltage.shape
    (250.0, (100,))
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from drxlab.exceptions import ProfileError

N_POINTS = 100  # points of a standardised profile, uniform in V
MIN_POINTS = 8  # fewest distinct raw points a spline profile is built from
MAX_SPLINE_POINTS = 1000  # denser segments are averaged in voltage bins first (fitpack is ~O(n²) here)
THIN_BINS = 400  # bins of such a segment: 4x the profile's points, each bin holding >= 2-3 raw points
# FITPACK's "s too small" messages (maxit reached, theoretically impossible result)
SPLINE_WARNINGS = r"\s*(The maximal number of iterations maxit|A theoretically impossible result)"


@dataclass(frozen=True)
class StandardProfile:
    """A standardised discharge profile on ``N_POINTS`` voltages in ascending order.

    Attributes:
        voltage: ``(n,)`` voltages, V, ascending from the segment's lowest to highest voltage.
        capacity_curve: ``(n,)`` discharged capacity Q(V), mAh/g (largest at the lowest V).
        dqdv: ``(n,)`` dQ/dV, mAh/g/V (≤ 0: Q grows as V falls).
    """

    voltage: np.ndarray
    capacity_curve: np.ndarray
    dqdv: np.ndarray

    @property
    def capacity(self) -> float:
        """Discharge capacity, mAh/g: Q at the lowest voltage of the profile."""
        return float(self.capacity_curve[0])

    @property
    def energy(self) -> float:
        """Energy density ∫V dQ, mWh/g."""
        return float(energy_density(self.voltage, self.capacity_curve))

    @property
    def average_voltage(self) -> float:
        """Average discharge voltage ∫V dQ / Q, V."""
        return average_voltage(self.voltage, self.capacity_curve)


def energy_density(voltage: np.ndarray, capacity_curve: np.ndarray) -> np.ndarray:
    """∫V dQ over profiles, mWh/g (trapezoid rule), along the last axis.

    ``voltage`` (V) ascends; ``capacity_curve`` (mAh/g) is Q(V), discharged capacity, so it
    descends. Capacity already discharged at the highest voltage is counted at that voltage.
    Broadcasts: one curve gives a 0-d array, ``M x n x P`` curves give ``M x n`` energies.

        >>> float(energy_density(np.array([1.0, 2.0]), np.array([3.0, 1.0])))
        5.0
    """
    v = np.asarray(voltage, dtype=float)
    q = np.asarray(capacity_curve, dtype=float)
    dq = q[..., :-1] - q[..., 1:]
    return (dq * (v[..., :-1] + v[..., 1:]) / 2).sum(-1) + np.maximum(q[..., -1], 0.0) * v[..., -1]


def average_voltage(voltage: np.ndarray, capacity_curve: np.ndarray) -> float:
    """Average discharge voltage ∫V dQ / Q, V (nan for a profile with no capacity)."""
    cap = float(np.max(capacity_curve))
    return float(energy_density(voltage, capacity_curve)) / cap if cap > 0 else float("nan")


def clean_segment(voltage: np.ndarray, capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop non-finite points, order along the discharge and make Q monotone.

    Returns ``(V, Q)`` with V strictly ascending (V) and Q (mAh/g) monotone along the
    discharge, duplicate voltages merged by their mean capacity. Noise on V may leave Q slightly
    non-monotone in V; the spline of :func:`process_segment` smooths it.
    """
    v = np.asarray(voltage, dtype=float).ravel()
    q = np.asarray(capacity, dtype=float).ravel()
    if v.shape != q.shape:
        raise ProfileError(f"voltage and capacity have different lengths ({v.size} vs {q.size})")
    ok = np.isfinite(v) & np.isfinite(q)
    v, q = v[ok], q[ok]
    if v.size < MIN_POINTS:
        raise ProfileError(
            f"only {v.size} finite points in the discharge segment; need at least {MIN_POINTS}"
        )
    # Along the discharge Q only grows (coulomb counting); order by Q and clip any backtracking.
    order = np.argsort(q, kind="stable")
    v, q = v[order], np.maximum.accumulate(q[order])
    # The spline needs strictly ascending V: merge repeated voltages by their mean capacity.
    v_unique, inverse = np.unique(v, return_inverse=True)
    q_mean = np.bincount(inverse, weights=q) / np.bincount(inverse)
    # a CV hold at the cut-off adds capacity at one voltage: the end point keeps all of it
    q_mean[0] = q[inverse == 0].max()
    if v_unique.size < MIN_POINTS:
        raise ProfileError(
            f"only {v_unique.size} distinct voltages in the discharge segment; need at least {MIN_POINTS}"
        )
    return v_unique, q_mean


def _thin(v: np.ndarray, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of V and Q in ``n`` equal-width voltage bins, end points kept exactly.

    A 700k-row cycler file has discharges of 50k points; the profile keeps 100, and a spline
    through 50k points takes ~20 s each. Bin means also lower the point noise, which the
    smoothing factor then reflects.
    """
    inner_v, inner_q = v[1:-1], q[1:-1]
    edges = np.linspace(v[0], v[-1], n + 1)
    idx = np.clip(np.searchsorted(edges, inner_v, side="right") - 1, 0, n - 1)
    count = np.bincount(idx, minlength=n)
    keep = count > 0
    vb = np.bincount(idx, weights=inner_v, minlength=n)[keep] / count[keep]
    qb = np.bincount(idx, weights=inner_q, minlength=n)[keep] / count[keep]
    return np.concatenate([v[:1], vb, v[-1:]]), np.concatenate([q[:1], qb, q[-1:]])


def _noise_variance(q: np.ndarray) -> float:
    """Variance of point noise on Q estimated from second differences, (mAh/g)²."""
    if q.size < 5:
        return 0.0
    d2 = np.diff(q, 2)
    mad = np.median(np.abs(d2 - np.median(d2)))
    return float((1.4826 * mad) ** 2 / 6.0)


def process_segment(voltage: np.ndarray, capacity: np.ndarray, n_points: int = N_POINTS) -> StandardProfile:
    """Standardise a raw discharge segment: clean, spline-denoise, resample, differentiate.

    Args:
        voltage: raw voltages, V, in any order.
        capacity: discharged capacity at each voltage, mAh/g (0 at the start of discharge).
        n_points: number of voltages of the result, uniform between the segment's end points.

    Returns:
        The :class:`StandardProfile`; raises :class:`ProfileError` for segments too short or flat.
    """
    v, q = clean_segment(voltage, capacity)
    if v[-1] - v[0] < 0.05:
        raise ProfileError(f"discharge segment spans only {v[-1] - v[0]:.3f} V; need at least 0.05 V")
    if v.size > MAX_SPLINE_POINTS:
        v, q = _thin(v, q, THIN_BINS)
    s = v.size * _noise_variance(q)
    from scipy.interpolate import UnivariateSpline  # here: scipy costs 0.3 s to import on light commands

    with warnings.catch_warnings():
        # FITPACK warns when a noisy segment keeps it from meeting the smoothing target exactly; the
        # approximation it returns is used, and the profile made from it is checked below
        warnings.filterwarnings("ignore", SPLINE_WARNINGS, UserWarning)
        spline = UnivariateSpline(v, q, k=3, s=max(s, 1e-8 * v.size))
    grid = np.linspace(v[0], v[-1], n_points)
    q_grid = spline(grid)
    # the spline may ring slightly; a discharge curve is non-negative and non-increasing in V
    q_grid = np.clip(np.minimum.accumulate(q_grid), 0.0, None)
    dqdv = np.minimum(spline.derivative()(grid), 0.0)
    return StandardProfile(voltage=grid, capacity_curve=q_grid, dqdv=dqdv)


def from_standardised(voltage: np.ndarray, capacity_curve: np.ndarray, dqdv: np.ndarray) -> StandardProfile:
    """Wrap an already standardised profile (e.g. DRXNet CSV / DRX-TD JSON), checking it.

    Points are put in ascending voltage order; non-finite or negative values are rejected.
    """
    v = np.asarray(voltage, dtype=float).ravel()
    q = np.asarray(capacity_curve, dtype=float).ravel()
    d = np.asarray(dqdv, dtype=float).ravel()
    if not (v.size == q.size == d.size):
        raise ProfileError(f"V, Q and dQ/dV have different lengths ({v.size}, {q.size}, {d.size})")
    if v.size < MIN_POINTS:
        raise ProfileError(f"only {v.size} points in the profile; need at least {MIN_POINTS}")
    for name, arr in (("V", v), ("Q", q), ("dQdV", d)):
        if not np.all(np.isfinite(arr)):
            raise ProfileError(f"{name} has non-finite values (NaN/inf); expected finite numbers")
    if np.any(q < -1e-6):
        raise ProfileError(f"Q has negative values (min {q.min():.3f} mAh/g); expected capacity ≥ 0")
    order = np.argsort(v, kind="stable")
    return StandardProfile(voltage=v[order], capacity_curve=q[order], dqdv=d[order])
