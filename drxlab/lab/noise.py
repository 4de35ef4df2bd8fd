"""Seeded measurement noise for the virtual lab: what turns an oracle curve into a coin cell.

One *sample* (one synthesised powder, one coin cell) draws, in this order:

1. a composition scatter: every amount is multiplied by ``1 + N(0, composition_scatter)``
   (truncated at ``SCATTER_CLIP`` standard deviations), cations renormalised to 2 and anions
   to their nominal sum (synthesis never hits the nominal formula); a scattered formula the
   oracle cannot charge-balance is a failed synthesis;
2. whether the cell fails (probability ``failure_rate``): a failed cell yields no profiles;
3. a capacity scale ``1 + N(0, capacity_sd) / Q₁`` shared by all its cycles (active mass,
   loading and electrode quality differ from cell to cell; Q₁ is the true first capacity);

then every measured cycle adds independent point noise on V (``voltage_sd``) and Q
(``point_sd``). Everything is drawn from the caller's ``numpy.random.Generator``, so a seed
reproduces a measurement exactly; ``NoiseModel.off()`` reproduces the oracle exactly.

Example:
    >>> import numpy as np
    >>> from drxlab.lab.synthetic import synthetic_raw_profile
    >>> m = measure(synthetic_raw_profile, {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}, 20, 1.5, 4.8,
    ...             (1, 2), NoiseModel.off(), np.random.default_rng(0))
    >>> m.failed, [c for c, _, _ in m.profiles]
    (False, [1, 2])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from drxlab.exceptions import ChargeBalanceError, ConditionError, OracleError

OracleFn = Callable[[Mapping[str, float], float, float, float, int], tuple[np.ndarray, np.ndarray]]
"""``(amts, rate mA/g, v_low V, v_high V, cycle) -> (V descending, Q ascending mAh/g)``."""

FAILURE_REASONS: tuple[str, ...] = (
    "internal short circuit during the first charge",
    "cell dried out (electrolyte leak)",
    "electrode delaminated from the current collector",
    "crimping fault: no electrical contact",
)
ANIONS = ("O", "F")
SCATTER_CLIP = 2.5  # composition scatter draws are truncated at this many standard deviations
CATION_SUM = 2.0


@dataclass(frozen=True)
class NoiseModel:
    """How a virtual measurement departs from the oracle.

    Attributes:
        capacity_sd: sample-to-sample standard deviation of the capacity, mAh/g (one draw per
            sample, applied as a relative scale to every cycle of the sample).
        voltage_sd: per-point standard deviation of the measured voltage, V.
        point_sd: per-point standard deviation of the measured capacity, mAh/g.
        composition_scatter: relative standard deviation of each element amount per sample.
        failure_rate: probability that a cell fails and yields no profiles, in [0, 1).
    """

    capacity_sd: float = 3.0
    voltage_sd: float = 0.003
    point_sd: float = 0.3
    composition_scatter: float = 0.01
    failure_rate: float = 0.03

    def __post_init__(self) -> None:
        for name in ("capacity_sd", "voltage_sd", "point_sd", "composition_scatter"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConditionError(f"NoiseModel.{name}={value!r} must be a finite number ≥ 0")
        if not (0.0 <= self.failure_rate < 1.0):
            raise ConditionError(f"NoiseModel.failure_rate={self.failure_rate!r} must be in [0, 1)")

    @classmethod
    def off(cls) -> NoiseModel:
        """No noise at all: measurements reproduce the oracle exactly and never fail."""
        return cls(capacity_sd=0.0, voltage_sd=0.0, point_sd=0.0, composition_scatter=0.0, failure_rate=0.0)

    @property
    def is_off(self) -> bool:
        """True when every noise source is zero."""
        return not any(
            (self.capacity_sd, self.voltage_sd, self.point_sd, self.composition_scatter, self.failure_rate)
        )


@dataclass(frozen=True)
class Measurement:
    """One virtual coin cell: its conditions and its raw discharge segments.

    Attributes:
        amounts: nominal composition asked for, element -> amount per f.u.
        sample_amounts: composition actually made (after composition scatter).
        rate: current density, mA/g; v_low, v_high: voltage window, V.
        profiles: ``(cycle, V, Q)`` per measured cycle, V descending (V), Q ascending (mAh/g);
            empty when the cell failed.
        failed: whether the cell failed; reason: why (``None`` when it did not).
    """

    amounts: dict[str, float]
    sample_amounts: dict[str, float]
    rate: float
    v_low: float
    v_high: float
    profiles: tuple[tuple[int, np.ndarray, np.ndarray], ...] = field(default_factory=tuple)
    failed: bool = False
    reason: str | None = None


def scatter_composition(
    amts: Mapping[str, float], scatter: float, rng: np.random.Generator
) -> dict[str, float]:
    """Multiply every amount by ``1 + N(0, scatter)``; renormalise cations to 2 and anions to 2."""
    amts = {str(el): float(a) for el, a in amts.items() if float(a) > 0}
    if scatter == 0:
        return amts
    els = sorted(amts)  # fixed order: the draw does not depend on dict order
    factors = 1.0 + scatter * np.clip(rng.standard_normal(len(els)), -SCATTER_CLIP, SCATTER_CLIP)
    new = {el: amts[el] * max(f, 0.5) for el, f in zip(els, factors)}
    cat = sum(a for el, a in new.items() if el not in ANIONS)
    an = sum(a for el, a in new.items() if el in ANIONS)
    nominal_an = sum(a for el, a in amts.items() if el in ANIONS)
    return {el: a * (CATION_SUM / cat if el not in ANIONS else nominal_an / an) for el, a in new.items()}


def measure(
    oracle_fn: OracleFn,
    amts: Mapping[str, float],
    rate: float,
    v_low: float,
    v_high: float,
    cycles: Sequence[int],
    noise: NoiseModel,
    rng: np.random.Generator | int,
) -> Measurement:
    """Measure one sample on cycles ``cycles`` with the oracle ``oracle_fn`` and noise ``noise``.

    Args:
        oracle_fn: noise-free curve, e.g. :func:`drxlab.lab.synthetic.synthetic_raw_profile`.
        amts: nominal composition, element -> amount per f.u.
        rate: current density, mA/g; v_low, v_high: window, V.
        cycles: cycle numbers to record (each ≥ 1), in any order.
        noise: the :class:`NoiseModel`.
        rng: a ``numpy.random.Generator`` (or an int seed for one).

    Returns:
        A :class:`Measurement`; errors of the oracle (unknown element, bad conditions) propagate,
        they are not cell failures.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    cycles = tuple(int(c) for c in cycles)
    if not cycles:
        raise ConditionError("cycles is empty; expected at least one cycle number ≥ 1")
    nominal = {str(el): float(a) for el, a in amts.items()}
    if not noise.composition_scatter:
        sample = nominal
        curves = [(c, *oracle_fn(sample, rate, v_low, v_high, c)) for c in cycles]  # raises for bad input
    else:
        oracle_fn(nominal, rate, v_low, v_high, cycles[0])  # bad input raises; a bad draw is a failed sample
        sample = scatter_composition(nominal, noise.composition_scatter, rng)
        try:
            curves = [(c, *oracle_fn(sample, rate, v_low, v_high, c)) for c in cycles]
        except ChargeBalanceError as exc:
            reason = f"synthesis off-stoichiometry, sample not single-phase ({exc})"
            return Measurement(nominal, sample, rate, v_low, v_high, (), True, reason)
    if noise.failure_rate and rng.random() < noise.failure_rate:
        reason = FAILURE_REASONS[int(rng.integers(len(FAILURE_REASONS)))]
        return Measurement(nominal, sample, rate, v_low, v_high, (), True, reason)
    dead = _dead_cycle(curves)
    if dead is not None:
        # a cell that delivers nothing has no average voltage to record (an oracle's edge case,
        # e.g. a DRXNet member's Q(V) below zero): the cycler run counts as a dead cell
        reason = f"cell delivered no discharge capacity on cycle {dead} (dead cell)"
        return Measurement(nominal, sample, rate, v_low, v_high, (), True, reason)
    if noise.is_off:
        return Measurement(nominal, sample, rate, v_low, v_high, tuple(curves))
    q_first = max(float(curves[int(np.argmin(cycles))][2][-1]), 1.0)
    scale = max(1.0 + noise.capacity_sd * rng.standard_normal() / q_first, 0.0)
    profiles = []
    for c, v, q in curves:
        v_noisy = v + noise.voltage_sd * rng.standard_normal(v.shape)
        q_noisy = q * scale + noise.point_sd * rng.standard_normal(q.shape)
        q_noisy[0] = 0.0  # coulomb counting starts at zero
        profiles.append((c, v_noisy, np.maximum(q_noisy, 0.0)))
    if not all(np.all(np.isfinite(v)) and np.all(np.isfinite(q)) for _, v, q in profiles):
        raise OracleError(f"the oracle returned non-finite points for {nominal!r}")
    dead = _dead_cycle(profiles)
    if dead is not None:
        reason = f"cell delivered no discharge capacity on cycle {dead} (dead cell)"
        return Measurement(nominal, sample, rate, v_low, v_high, (), True, reason)
    return Measurement(nominal, sample, rate, v_low, v_high, tuple(profiles))


DEAD_CELL_CAPACITY = 1.0  # mAh/g: a discharge below this is no discharge


def _dead_cycle(curves: Sequence[tuple[int, np.ndarray, np.ndarray]]) -> int | None:
    """The first cycle whose discharge delivers less than :data:`DEAD_CELL_CAPACITY`, or None."""
    for c, _, q in curves:
        if not np.nanmax(q, initial=0.0) >= DEAD_CELL_CAPACITY:
            return c
    return None
