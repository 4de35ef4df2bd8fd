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
