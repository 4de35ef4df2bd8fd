"""What every importer produces: parsed tests with standardised profiles, checked for sanity.

Importers never touch the store; the import command writes their :class:`ParsedTest` objects
in one transaction after every file has parsed cleanly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drxlab.chem import compositions
from drxlab.exceptions import ChargeBalanceError, CompositionError, ImportFileError, ProfileError
from drxlab.profiles.process import StandardProfile

WINDOW_TOLERANCE = 0.1  # V a profile may extend beyond its declared window
MAX_CAPACITY = 1000.0  # mAh/g; above this a value is a unit error, not a cathode


@dataclass(frozen=True)
class ParsedProfile:
    """One cycle's standardised profile, with the raw points when the file had them."""

    cycle: int
    profile: StandardProfile
    raw_voltage: np.ndarray | None = None  # V
    raw_capacity: np.ndarray | None = None  # mAh/g


@dataclass(frozen=True)
class ParsedTest:
    """One electrochemical test read from a file, before it is written to the store."""

    source: str  # "file[:row]" for messages
    formula: str
    amounts: dict[str, float]
    oxidation_states: dict[str, float]
    rate: float  # mA/g
    v_low: float  # V
    v_high: float  # V
    profiles: tuple[ParsedProfile, ...]
    active_mass: float | None = None  # g
    electrode_mass: float | None = None  # g
    instrument: str = ""
    label: str = ""  # the file's own id for the material/test, if any
    extra: dict = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes (identifies a file across renames)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_composition(text: str | dict, where: str, *, allow_unbalanced: bool) -> tuple[str, dict, dict]:
    """(formula, amounts, oxidation states) of a file's composition, or an ImportFileError at ``where``."""
    try:
        amts = compositions.amounts(text)
        try:
            states = compositions.oxidation_states(amts)
        except ChargeBalanceError:
            if not allow_unbalanced:
                raise
            states = {}
    except CompositionError as exc:
        raise ImportFileError(
            f"{where}: field 'composition': {exc}", option=exc.option, option_use=exc.option_use
        ) from None
    return compositions.format_formula(amts), amts, states


def check_conditions(rate: float, v_low: float, v_high: float, where: str) -> None:
    """Rate (mA/g) and window (V) must be finite, positive and ordered."""
    for name, value in (("rate (mA/g)", rate), ("V_low (V)", v_low), ("V_high (V)", v_high)):
        if not np.isfinite(value):
            raise ImportFileError(f"{where}: field {name} is {value}; expected a finite number")
    if rate <= 0:
        raise ImportFileError(f"{where}: field rate is {rate} mA/g; expected a current density > 0")
    if not 0 < v_low < v_high:
        raise ImportFileError(
            f"{where}: window V_low={v_low} V, V_high={v_high} V; expected 0 < V_low < V_high"
        )


def check_profile(p: StandardProfile, v_low: float, v_high: float, where: str) -> None:
    """A standardised profile must lie in its window and have a finite, non-negative capacity."""
    q = p.capacity_curve
    if not np.all(np.isfinite(q)):
        raise ImportFileError(f"{where}: capacity has NaN/inf values; expected finite mAh/g")
    if np.any(q < -1e-6):
        raise ImportFileError(f"{where}: negative capacity {q.min():.3g} mAh/g; expected ≥ 0")
    if q.max() > MAX_CAPACITY:
        raise ImportFileError(
            f"{where}: capacity {q.max():.4g} mAh/g is implausible (> {MAX_CAPACITY:g}); check "
            "units / active mass"
        )
    lo, hi = float(p.voltage.min()), float(p.voltage.max())
    if lo < v_low - WINDOW_TOLERANCE or hi > v_high + WINDOW_TOLERANCE:
        raise ImportFileError(
            f"{where}: voltages {lo:.3f}–{hi:.3f} V lie outside the declared window {v_low}–{v_high} V "
            f"(tolerance {WINDOW_TOLERANCE} V)"
        )


def wrap_profile_error(exc: ProfileError, where: str) -> ImportFileError:
    """Re-raise a profile-processing error with the file/row it came from."""
    return ImportFileError(f"{where}: {exc}")
