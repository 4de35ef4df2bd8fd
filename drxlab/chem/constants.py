"""Numbers of DRX chemistry and of the standard coin-cell test, each defined once.

The standard test is the DRXNet authors' galvanostatic protocol (DRXNET.md): 20 mA/g between
1.5 and 4.8 V; it is the default wherever a command or the virtual lab needs test conditions.
"""

from __future__ import annotations

CATION_SUM = 2.0
"""Cations (and anions) per rocksalt formula unit: Li + metals = O + F = 2."""

STANDARD_RATE = 20.0
"""Current density of the standard test, mA/g."""

STANDARD_WINDOW: tuple[float, float] = (1.5, 4.8)
"""Voltage window of the standard test, (V_low, V_high) in V."""

USUAL_STATES: dict[str, int] = {
    "Li": 1, "Na": 1, "Mg": 2, "Ni": 2, "Co": 2, "Zn": 2, "Cu": 2,
    "Cr": 3, "V": 3, "Fe": 3, "Al": 3, "Ga": 3, "Sc": 3,
    "Ti": 4, "Zr": 4, "Sn": 4, "Hf": 4, "Nb": 5, "Ta": 5, "Sb": 5, "Mo": 6, "W": 6,
    "O": -2, "F": -1,
}  # fmt: skip
"""Usual oxidation state of each element in DRX oxyfluorides; Mn (2+/3+/4+) is what balances the rest."""


def balanced_states(amts: dict[str, float]) -> dict[str, float]:
    """Average oxidation states: :data:`USUAL_STATES`, Mn solving the charge balance (fast; no
    search over states). Elements without a usual state are left out, and then Mn too.

        >>> balanced_states({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0})["Mn"]
        3.0
    """
    states = {el: float(USUAL_STATES[el]) for el in amts if el in USUAL_STATES}
    mn = float(amts.get("Mn", 0.0))
    if mn > 0 and len(states) == len(amts) - 1:
        states["Mn"] = round(-sum(states[el] * float(a) for el, a in amts.items() if el != "Mn") / mn, 6)
    return states
