"""DRX target compositions: parse, normalise to the rocksalt formula, classify, balance charge.

pymatgen's :class:`~pymatgen.core.Composition` is the only formula parser. A DRX target is
written in the rocksalt formula Li(1+x) M(1-x) O(2-y) F(y): cations sum to 2. Every formula in
drxlab is normalised by :func:`normalise` so the same material always has the same string.

Example:
    >>> normalise("Li1.2 Mn0.4 Ti0.4 O2")
    'Li1.2Mn0.4Ti0.4O2'
    >>> normalise("Li2MnO3")
    'Li1.3333Mn0.6667O2'
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from fractions import Fraction

from pymatgen.core import Composition, Element

from drxlab.chem.constants import CATION_SUM
from drxlab.exceptions import ChargeBalanceError, CompositionError

ANIONS: tuple[str, ...] = ("O", "F")
AMOUNT_DECIMALS = 4  # amounts are rounded to 1e-4 formula units when normalised
BALANCE_TOLERANCE = 1e-3  # |sum q n| allowed for a charge-balanced composition, e per f.u.
MAX_PYMATGEN_SITES = 200  # above this many integer sites pymatgen's oxidation-state search is slow


def parse(text: str) -> Composition:
    """Parse a formula string with pymatgen, raising :class:`CompositionError` with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise CompositionError(f"composition {text!r} is empty; expected a formula like 'Li1.2Mn0.4Ti0.4O2'")
    try:
        comp = Composition(text.strip())
    except Exception as exc:  # pymatgen raises ValueError / KeyError / others for bad formulas
        raise CompositionError(
            f"cannot parse composition {text!r}: {exc}; expected a formula like 'Li1.2Mn0.4Ti0.4O2'"
        ) from None
    for el, amt in comp.items():
        if not isinstance(el, Element) or getattr(el, "is_dummy", False):
            raise CompositionError(f"composition {text!r} contains unknown element {el!s}")
        if not math.isfinite(amt) or amt < 0:
            raise CompositionError(f"composition {text!r} has invalid amount {amt} for {el}")
    if len(comp) == 0 or comp.num_atoms <= 0:
        raise CompositionError(f"composition {text!r} has no atoms")
    return comp


def amounts(comp: Composition | str | Mapping[str, float]) -> dict[str, float]:
    """Element -> amount per rocksalt formula unit (cations sum to 2), rounded to 1e-4.

    Raises :class:`CompositionError` when the composition has no Li or no metal besides Li.
    """
    if isinstance(comp, str):
        comp = parse(comp)
    elif not isinstance(comp, Composition):
        try:
            comp = Composition({str(k): float(v) for k, v in comp.items() if float(v) > 0})
        except Exception as exc:
            raise CompositionError(f"invalid composition {dict(comp)!r}: {exc}") from None
    raw = {el.symbol: float(a) for el, a in comp.items() if a > 0}
    label = comp.formula.replace(" ", "")
    if "Li" not in raw:
        raise CompositionError(f"composition {label!r} has no Li; a DRX cathode is Li(1+x)M(1-x)O(2-y)F(y)")
    metals = [el for el in raw if el not in ANIONS and el != "Li"]
    if not metals:
        raise CompositionError(
            f"composition {label!r} has no cations besides Li; expected at least one metal"
        )
    if "O" not in raw:
        raise CompositionError(f"composition {label!r} has no O; a DRX cathode is an oxide or oxyfluoride")
    cations = sum(a for el, a in raw.items() if el not in ANIONS)
    return _rounded(raw, CATION_SUM / cations)


def _rounded(raw: dict[str, float], scale: float) -> dict[str, float]:
    """Amounts times ``scale`` rounded to 1e-4, the cations' last digits adjusted to sum to exactly 2.

    Rounded one by one, the cations of Li2Cr0.5Fe0.5 sum to 1.9999; normalising that formula
    again would rescale it to Li1.3334…, so the same material would get a second string.
    """
    unit = 10**AMOUNT_DECIMALS
    exact = {el: a * scale * unit for el, a in raw.items()}
    units = {el: round(round(a * scale, AMOUNT_DECIMALS) * unit) for el, a in raw.items()}
    cations = [el for el in raw if el not in ANIONS]
    short = round(CATION_SUM * unit) - sum(units[el] for el in cations)
    step = 1 if short > 0 else -1
    # the missing (or extra) units go to the cations rounded furthest the other way
    for el in sorted(cations, key=lambda el: step * (units[el] - exact[el]))[: abs(short)]:
        units[el] += step
    return {el: u / unit for el, u in units.items()}


def _order_key(el: str) -> tuple[int, str]:
    if el == "Li":
        return (0, el)
    if el in ANIONS:
        return (2, str(ANIONS.index(el)))
    return (1, el)


def format_formula(amts: Mapping[str, float]) -> str:
    """Write amounts as the canonical formula: Li, metals alphabetically, then O, F."""
    parts = []
    for el in sorted(amts, key=_order_key):
        a = round(float(amts[el]), AMOUNT_DECIMALS)
        if a <= 0:
            continue
        parts.append(el if a == 1 else f"{el}{a:g}")
    return "".join(parts)


def normalise(comp: Composition | str | Mapping[str, float]) -> str:
    """Canonical rocksalt formula string of a composition (cations sum to 2)."""
    return format_formula(amounts(comp))


def metals(amts: Mapping[str, float]) -> list[str]:
    """Metal elements besides Li (the transition/post-transition metals), sorted."""
    return sorted(el for el, a in amts.items() if a > 0 and el not in ANIONS and el != "Li")


def composition_class(amts: Mapping[str, float]) -> str:
    """DRX class by number of metals besides Li: '2TM' (≤ 2), '3TM' (3) or 'HE' (≥ 4)."""
    n = len(metals(amts))
    return "2TM" if n <= 2 else ("3TM" if n == 3 else "HE")


def _fraction(a: float) -> Fraction:
    # Prefer small denominators (Li1.3333 is 4/3) when they agree with the rounded amount.
    exact = Fraction(str(round(a, AMOUNT_DECIMALS)))
    small = exact.limit_denominator(120)
    return small if abs(small - exact) <= 10**-AMOUNT_DECIMALS else exact


def integer_scale(amts: Mapping[str, float]) -> dict[str, int]:
    """Smallest integer multiple of the amounts (pymatgen's oxidation-state search needs integers)."""
    fracs = {el: _fraction(a) for el, a in amts.items()}
    lcm = 1
    for f in fracs.values():
        lcm = lcm * f.denominator // math.gcd(lcm, f.denominator)
    ints = {el: int(f * lcm) for el, f in fracs.items()}
    g = 0
    for v in ints.values():
        g = math.gcd(g, v)
    return {el: v // max(g, 1) for el, v in ints.items()}


@functools.lru_cache(maxsize=65536)
def _guess(items: tuple[tuple[str, float], ...]) -> dict[str, float] | None:
    ints = integer_scale(dict(items))
    if sum(ints.values()) <= MAX_PYMATGEN_SITES:
        guesses = Composition(ints).oxi_state_guesses()
        return dict(guesses[0]) if guesses else None
    return _range_guess(dict(items))


def _range_guess(amts: dict[str, float]) -> dict[str, float] | None:
    """Balance by common-state ranges for formulas too large for pymatgen's site search.

    Anions take their common (lowest) state; metals start at their lowest common state and are
    oxidised in order of increasing electronegativity until the charge balances (average,
    possibly mixed valence, states as pymatgen also reports).
    """
    states: dict[str, float] = {}
    need = 0.0
    metals_ = []
    for el, a in amts.items():
        common = Element(el).common_oxidation_states
        if not common:
            return None
        if el in ANIONS:
            states[el] = float(min(common))
        else:
            states[el] = float(min(q for q in common if q > 0) if any(q > 0 for q in common) else min(common))
            metals_.append(el)
        need -= states[el] * a
    for el in sorted(metals_, key=lambda e: Element(e).X):
        top = float(max(Element(el).common_oxidation_states))
        room = (top - states[el]) * amts[el]
        step = min(room, need) if need > 0 else 0.0
        states[el] += step / amts[el]
        need -= step
    return states if abs(need) <= BALANCE_TOLERANCE else None


def oxidation_states(amts: Mapping[str, float]) -> dict[str, float]:
    """Most likely oxidation state per element (pymatgen, common states), or raise.

    Raises :class:`ChargeBalanceError` when no assignment of common oxidation states balances
    the composition.
    """
    items = tuple(sorted((el, float(a)) for el, a in amts.items() if a > 0))
    states = _guess(items)
    if states is None:
        raise ChargeBalanceError(
            f"composition {format_formula(amts)!r} is not charge-balanced with any common oxidation states "
            "of its elements; check the formula",
            option="allow_unbalanced",
            option_use="if it is right",
        )
    return {el: float(q) for el, q in states.items()}


def charge(amts: Mapping[str, float], states: Mapping[str, float]) -> float:
    """Net charge Σ q_i n_i per formula unit (0 for a balanced composition), e."""
    return float(sum(states[el] * a for el, a in amts.items()))
