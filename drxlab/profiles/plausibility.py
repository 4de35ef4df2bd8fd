"""Is a measured test plausible for a DRX coin cell? Catches unit slips before they are trained on.

The ranges are wide on purpose: they only stop values that no DRX cathode in a coin cell gives,
which in practice are typing mistakes (an active mass in mg typed as g makes capacities 1000x too
small). Every check can be overridden (``--force``) for the rare real case.
"""

from __future__ import annotations

from drxlab.profiles.importers.base import ParsedTest

CAPACITY_RANGE = (20.0, 450.0)
"""mAh/g: first-cycle discharge capacities of DRX cathodes lie well inside this range."""

MASS_RANGE = (1e-5, 0.1)
"""g: active mass of a coin-cell cathode (typically 1–20 mg)."""


def mass_problem(mass: float | None) -> str | None:
    """Why an active mass (g) is implausible for a coin cell, or None."""
    if mass is None:
        return None
    if mass > MASS_RANGE[1]:
        return (
            f"active mass {mass:g} g is implausible for a coin cell (> {MASS_RANGE[1]:g} g): was it typed in "
            f"mg? {mass:g} mg would be an active mass of {mass / 1000:g} g"
        )
    if mass < MASS_RANGE[0]:
        return (
            f"active mass {mass:g} g is implausible for a coin cell (< {MASS_RANGE[0]:g} g): a unit slip "
            "(µg or kg instead of g)?"
        )
    return None


def problems(test: ParsedTest) -> list[str]:
    """What is implausible about a test (empty when nothing is): each names the value and the likely cause."""
    out = []
    mass = test.active_mass
    if (why := mass_problem(mass)) is not None:
        out.append(why)
    if test.profiles:
        first = min(test.profiles, key=lambda p: p.cycle)
        q = float(first.profile.capacity)
        lo, hi = CAPACITY_RANGE
        if not lo <= q <= hi:
            if q < lo:
                cause = (
                    "the active mass is too large (typed in mg instead of g?)"
                    if mass is not None
                    else "a capacity or current column in the wrong unit, or a cell that did not work"
                )
            else:
                cause = (
                    "the active mass is too small (in kg, or missing a digit?)"
                    if mass is not None
                    else "a capacity column in mAh read as mAh/g, or the wrong unit"
                )
            out.append(
                f"cycle {first.cycle} capacity {q:.4g} mAh/g is outside {lo:g}–{hi:g} mAh/g, the range of "
                f"DRX cathodes: likely {cause}"
            )
    return out
