"""Synthesis failures of the virtual lab: which compositions do not form a phase-pure rocksalt.

Solid-state DRX synthesis fails in a few well-known ways; the virtual lab applies them as
documented rules (deterministic, so there is a feasibility boundary to learn) plus two random
ones. Thresholds are per formula unit with cations summing to 2:

1. **F not incorporated** – F above its solid-state solubility: ``F > 0.2 + 0.5 (Li − 1.2)``.
   Fluorine enters the rocksalt through Li-rich (Li–F) environments, so more Li excess
   dissolves more F; above it LiF stays as a separate phase (solid-state DRX oxyfluorides
   reach y ≈ 0.1–0.2, mechanochemistry is needed beyond; Lun et al., Nat. Mater. 2020).
2. **Impurity phase (layered / spinel)** – much Jahn–Teller Mn³⁺ with little Li excess:
   ``Mn³⁺ ≥ 0.1`` and ``Li ≤ 1.15``. Without Li excess Mn³⁺ orders into layered/orthorhombic
   LiMnO₂ or spinel domains instead of a disordered rocksalt.
3. **Impurity phase (Li₃NbO₄ / Li₄MoO₅)** – too much high-valent d⁰ metal:
   ``Nb + Ta + Mo + W > 0.15``. These cations take a lot of Li and O with them into ordered
   Li-rich secondary phases when their amount exceeds what the rocksalt accommodates.
4. **Li loss** (random) – ``Li ≥ 1.3``: Li₂O volatilises during calcination with probability
   ``li_loss_rate`` and the product is Li-deficient.
5. **Other** (random) – any composition, probability ``random_rate`` (furnace, precursors,
   handling).

Mn³⁺ is the Mn that balances the charge with every other element at its usual DRX state
(:data:`drxlab.chem.constants.USUAL_STATES`); Mn that is mixed-valent counts as Mn³⁺ by ``1 − |state − 3|``.

Example:
    >>> import numpy as np
    >>> rules = SynthesisRules(random_rate=0.0, li_loss_rate=0.0)
    >>> rules.check({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}, np.random.default_rng(0)) is None
    True
    >>> rules.check({"Li": 1.1, "Mn": 0.5, "Ti": 0.4, "O": 1.7, "F": 0.3}, np.random.default_rng(0))[0]
    <FailureReason.F_NOT_INCORPORATED: 'f_not_incorporated'>
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from drxlab.chem.constants import balanced_states
from drxlab.exceptions import ConditionError
from drxlab.vocabulary import FailureReason

HIGH_VALENT = ("Nb", "Ta", "Mo", "W")
TOL = 1e-9  # amounts are grid multiples; keep rule edges exact


def mn3_amount(amts: Mapping[str, float]) -> float:
    """Mn³⁺ per formula unit (0 without Mn or with an element of unknown usual state)."""
    state = balanced_states(dict(amts)).get("Mn")
    return 0.0 if state is None else float(amts["Mn"]) * max(0.0, 1.0 - abs(state - 3.0))


@dataclass(frozen=True)
class SynthesisRules:
    """The virtual lab's synthesis outcome rules (module docstring); amounts per formula unit.

    Attributes:
        f_solubility: F soluble at Li = 1.2; f_per_li: extra F per extra Li.
        mn3_max: Mn³⁺ from which low Li excess gives a layered/spinel impurity;
            li_for_mn3: Li at or below which that happens.
        high_valent_max: Nb + Ta + Mo + W above which secondary phases form.
        li_loss_from: Li at or above which Li loss can happen, with probability li_loss_rate.
        random_rate: probability of an unexplained failure of any synthesis.
    """

    f_solubility: float = 0.2
    f_per_li: float = 0.5
    mn3_max: float = 0.1
    li_for_mn3: float = 1.15
    high_valent_max: float = 0.15
    li_loss_from: float = 1.3
    li_loss_rate: float = 0.25
    random_rate: float = 0.02

    def __post_init__(self) -> None:
        for name in ("li_loss_rate", "random_rate"):
            value = getattr(self, name)
            if not (0.0 <= value < 1.0):
                raise ConditionError(f"SynthesisRules.{name}={value!r} must be in [0, 1)")
        for name in ("f_solubility", "f_per_li", "mn3_max", "li_for_mn3", "high_valent_max", "li_loss_from"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConditionError(f"SynthesisRules.{name}={value!r} must be a finite number ≥ 0")

    def rule(self, amts: Mapping[str, float]) -> tuple[FailureReason, str] | None:
        """The deterministic failure (rules 1–3) of a composition, or None when it forms."""
        li, f = float(amts.get("Li", 0.0)), float(amts.get("F", 0.0))
        f_max = self.f_solubility + self.f_per_li * (li - 1.2)
        if f > f_max + TOL:
            return FailureReason.F_NOT_INCORPORATED, f"LiF left: F {f:.2f} above its solubility {f_max:.2f}"
        mn3 = mn3_amount(amts)
        if mn3 >= self.mn3_max - TOL and li <= self.li_for_mn3 + TOL:
            return FailureReason.IMPURITY_PHASE, f"layered/spinel impurity: Mn3+ {mn3:.2f} with Li {li:.2f}"
        hv = sum(float(amts.get(el, 0.0)) for el in HIGH_VALENT)
        if hv > self.high_valent_max + TOL:
            return FailureReason.IMPURITY_PHASE, f"Li3NbO4/Li4MoO5 secondary phase: Nb+Ta+Mo+W {hv:.2f}"
        return None

    def check(self, amts: Mapping[str, float], rng: np.random.Generator) -> tuple[FailureReason, str] | None:
        """The outcome of one synthesis: a rule's failure, a random one, or None (it formed).

        Always draws two uniforms from ``rng``, so a seed gives the same stream whatever happens.
        """
        u_li, u_any = rng.random(2)
        found = self.rule(amts)
        if found:
            return found
        if float(amts.get("Li", 0.0)) >= self.li_loss_from - TOL and u_li < self.li_loss_rate:
            return FailureReason.LI_LOSS, "Li2O volatilised during calcination"
        if u_any < self.random_rate:
            return FailureReason.OTHER, "unexplained failure (furnace, precursors, handling)"
        return None

    def feasible(self, amts: Mapping[str, float]) -> bool:
        """Whether the composition forms when no random failure strikes (the rules 1–3)."""
        return self.rule(amts) is None
