"""A physics-informed synthetic DRX cell: the virtual lab's noise-free oracle.

Emulates the galvanostatic discharge of a disordered-rocksalt cathode Li(1+x) M(1-x) O(2-y) F(y)
(cations sum to 2, as :func:`drxlab.chem.compositions.amounts` writes it) from published DRX
design rules. It is a caricature, not a simulation: smooth in composition, deterministic and
vectorised (~5·10^4 capacities/s, several thousand raw profiles/s on one core) so benchmarks know the
true optimum of a candidate space.

Design rules encoded (units: e per formula unit (f.u.) unless stated):

1. Li percolation (Lee et al., Science 343, 519 (2014); Urban, Lee & Ceder, Adv. Energy Mater.
   4, 1400478 (2014)): Li diffuses through 0-TM channels, which percolate above ~9 % Li excess.
   Accessible Li = Li·p(x_eff), p a logistic step (centre ``X_PERC`` = 0.09, width
   ``X_PERC_WIDTH``) from a non-percolating floor ``P_FLOOR`` to a plateau ``P_PLATEAU``.
2. Short-range order (Ji et al., Nat. Commun. 10, 592 (2019); Lun et al., Nat. Mater. 20, 214
   (2021), high-entropy DRX): cation SRO shrinks the 0-TM network, less so the more metals share
   the sublattice: x_eff = x − ``SRO_CATION``/N_eff − ``SRO_F``·y, N_eff = exp(mixing entropy)
   of the non-Li metals.
3. Fluorination (Lun et al., Chem 6, 153 (2020); Clément, Lun & Ceder, Energy Environ. Sci. 13,
   345 (2020)): F binds Li (Li–F SRO), so F removes percolating Li (rule 2) and the Li–O–Li
   oxygen of O redox (rule 5): at fixed cations more F gives a lower cycle-1 capacity, but a
   more stable lattice: slower O-redox and TM fade, less impedance growth (rule 8).
4. TM redox (Kitchaev et al., Energy Environ. Sci. 11, 2159 (2018) and Lee et al., Nature 556,
   185 (2018): Mn2+/4+ double redox enabled by F; Cr3+/6+ and V migration, Ji/Ouyang et al.
   2019): each variable metal's as-made valence comes from charge balance (the valence ladder
   below); every electron between it and the metal's top state is a capacity "bucket" at its
   couple's potential (``COUPLES``, V on discharge): Nb4+/5+ 1.7, Ti3+/4+ 1.8, Mo4+/6+ 2.3,
   V3+/5+ 2.55, Mn2+/3+ 2.65, Fe2+/3+ 2.8, Mn3+/4+ 3.15, Cr3+/6+ 3.45 (70 % effective, large
   hysteresis: migration), Ni2+/4+ 3.7, Co2+/3+ 3.8, Fe3+/4+ 3.9 (35 %), Co3+/4+ 4.3 (25 %).
   Mg, Zn, Al, Ga, Sc, Y, In, Zr, Sn, Hf, Ta, Sb, W are inert at fixed valence, as are Ti4+,
   Nb5+, Mo6+. Electrons become mAh/g through the formula mass (pymatgen atomic masses, as
   ``Composition.weight``; 26801.5 mAh/mol per electron).
5. O redox (Seo et al., Nat. Chem. 8, 692 (2016): labile O 2p states on Li–O–Li axes):
   ``O_REDOX_PER_O``·n_O·softplus(x − ``O_F_BLOCK``·y) electrons, oxidised at ~4.25 V and
   reduced over a broad slope ~0.6 V lower (hysteresis; Assat & Tarascon, Nat. Energy 3, 373
   (2018)); the highest bucket.
6. Li-limited capacity: buckets are charged in order of potential until the accessible Li runs
   out: total = softmin(accessible Li, Σ buckets) (log-sum-exp, scale ``SOFTMIN_TAU``), so the
   highest (O) buckets are cut first. Cycle 1 lands in the DRX range, ~100–330 mAh/g at
   20 mA/g, 1.5–4.8 V.
7. Profile shape: each bucket discharges as a broad logistic step (scale 0.3–0.45 V, i.e.
   dQ/dV peaks ~1–1.5 V wide: sloping DRX curves). Charging to V_high only oxidises what lies
   below V_high − η, discharge to V_low only reduces what lies above V_low + η: capacity
   outside the window is not accessed.
8. Cycling: the O-redox share fades towards ``O_FADE_FLOOR`` with a time constant that F and d0
   metals (Ti, Nb, Zr, Mo, W, Ta, Hf) lengthen; TM capacity fades slowly (faster with Cr and V:
   migration, dissolution); impedance (η) grows. Capacity never rises with cycle number.
9. Rate (Lun et al. 2021: high-entropy DRX, weaker SRO, better rate): the overpotential η and a
   kinetic capacity loss grow with ln(1 + rate/20) and √rate, scaled by a resistance that falls
   with Li excess, with Cr/V (migration to tetrahedral sites opens Li paths) and with mixing.

The valence model is the ladder of rule 4: all variable metals start at their lowest state
and couples are oxidised in order of increasing potential until the formula balances. It
agrees with :func:`drxlab.chem.compositions.oxidation_states` whenever one metal carries the
variable charge, is continuous in composition (pymatgen's integer search is not) and costs
microseconds rather than ~80 ms per formula.

Example:
    >>> q = true_capacity({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}, 20.0, 1.5, 4.8, 1)
    >>> 230 < q < 290
    True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pymatgen.core import Element
from scipy.special import expit

from drxlab.exceptions import ChargeBalanceError, ConditionError, OracleError

FARADAY_MAH = 26801.5  # mAh per mol of electrons
BALANCE_SLACK = 0.08  # e/f.u. of charge imbalance tolerated (off-stoichiometry, rounding)

# Fixed-valence spectators; variable metals get a [low, high] range.
FIXED_VALENCE: dict[str, int] = {
    "Li": 1,
    "Mg": 2,
    "Zn": 2,
    "Al": 3,
    "Ga": 3,
    "Sc": 3,
    "Y": 3,
    "In": 3,
    "Zr": 4,
    "Sn": 4,
    "Hf": 4,
    "Ta": 5,
    "Sb": 5,
    "W": 6,
}
VALENCE_RANGE: dict[str, tuple[int, int]] = {
    "Ti": (3, 4),
    "Nb": (4, 5),
    "Mo": (4, 6),
    "V": (3, 5),
    "Mn": (2, 4),
    "Fe": (2, 4),
    "Cr": (3, 6),
    "Ni": (2, 4),
    "Co": (2, 4),
}
REDOX_METALS: frozenset[str] = frozenset({"V", "Mn", "Fe", "Cr", "Ni", "Co", "Mo"})
D0_METALS: frozenset[str] = frozenset({"Ti", "Nb", "Zr", "Mo", "W", "Ta", "Hf"})
ANION_CHARGE: dict[str, int] = {"O": -2, "F": -1}

# (element, z_low, z_high, discharge mid-potential V, charge − discharge hysteresis V,
#  logistic scale V, effective fraction), in order of increasing potential: the order of the
# valence ladder and of Li-limited charging.
COUPLES: tuple[tuple[str, int, int, float, float, float, float], ...] = (
    ("Nb", 4, 5, 1.70, 0.10, 0.30, 1.00),
    ("Ti", 3, 4, 1.80, 0.10, 0.30, 1.00),
    ("Mo", 4, 6, 2.30, 0.10, 0.35, 0.80),
    ("V", 3, 5, 2.55, 0.10, 0.40, 0.90),
    ("Mn", 2, 3, 2.65, 0.10, 0.32, 1.00),
    ("Fe", 2, 3, 2.80, 0.10, 0.30, 1.00),
    ("Mn", 3, 4, 3.15, 0.10, 0.32, 1.00),
    ("Cr", 3, 6, 3.45, 0.30, 0.38, 0.70),
    ("Ni", 2, 4, 3.70, 0.10, 0.38, 0.90),
    ("Co", 2, 3, 3.80, 0.10, 0.32, 1.00),
    ("Fe", 3, 4, 3.90, 0.10, 0.32, 0.35),
    ("Co", 3, 4, 4.30, 0.10, 0.32, 0.25),
)
# O redox: oxidised on a ~4.25 V plateau, reduced over a broad slope ~0.6 V lower (hysteresis)
O_REDOX_POTENTIAL, O_REDOX_HYSTERESIS, O_REDOX_SCALE = 3.65, 0.60, 0.45  # V

# Li percolation and short-range order (rules 1-3)
X_PERC = 0.09  # Li excess of the 0-TM percolation threshold
X_PERC_WIDTH = 0.035
P_FLOOR, P_PLATEAU = 0.30, 0.80  # accessible fraction of Li below / far above the threshold
SRO_CATION = 0.04  # Li-excess equivalents lost to cation SRO with a single metal (÷ N_eff)
SRO_F = 0.10  # Li-excess equivalents lost per F (Li–F SRO)
# O redox (rule 5)
O_REDOX_PER_O = 1.4
O_F_BLOCK = 0.5  # Li excess bound per F that no longer makes Li–O–Li
SOFTPLUS_SCALE = 0.02
SOFTMIN_TAU = 0.04  # e/f.u.
# cycling (rule 8)
O_FADE_FLOOR = 0.35
O_FADE_CYCLES = 10.0
TM_FADE_PER_CYCLE = 0.002
TM_FADE_CR_V = 0.008  # extra fade per cycle per f.u. of Cr or V
ETA_GROWTH, ETA_GROWTH_CYCLES = 0.06, 30.0  # V, cycles
# rate (rule 9)
RATE_REF = 20.0  # mA/g
ETA_BASE = 0.01  # V
ETA_LOG, ETA_SQRT = 0.045, 0.004  # V per ln(1 + rate/20), V per √(mA/g)
LOSS_LOG, LOSS_SQRT = 0.05, 0.006
RESISTANCE_REF = 1.5  # makes the resistance ≈ 1 for Li1.2Mn0.4Ti0.4O2
RESISTANCE_X_SCALE = 0.15  # Li excess over which the resistance falls e-fold
RESISTANCE_CR_V = 0.6  # relative resistance drop per f.u. of Cr + V (capped at 50 %)
RESISTANCE_HE = 0.35  # relative resistance drop at infinite mixing, × (1 − 1/N_eff)

_CATIONS: tuple[str, ...] = tuple(FIXED_VALENCE) + tuple(VALENCE_RANGE)
_ELEMENTS: tuple[str, ...] = _CATIONS + tuple(ANION_CHARGE)
_INDEX = {el: i for i, el in enumerate(_ELEMENTS)}
_MASS = np.array([float(Element(el).atomic_mass) for el in _ELEMENTS])
_COUPLE_EL = np.array([_INDEX[c[0]] for c in COUPLES])
_COUPLE_DZ = np.array([c[2] - c[1] for c in COUPLES], dtype=float)
_E = np.array([c[3] for c in COUPLES] + [O_REDOX_POTENTIAL])
_E_CHARGE = _E + np.array([c[4] for c in COUPLES] + [O_REDOX_HYSTERESIS])
_S = np.array([c[5] for c in COUPLES] + [O_REDOX_SCALE])
_UTIL = np.array([c[6] for c in COUPLES])
_ZMIN = np.array([FIXED_VALENCE.get(el, VALENCE_RANGE.get(el, (0, 0))[0]) for el in _CATIONS], float)
_METAL = np.array([el != "Li" for el in _CATIONS])
_REDOX = np.array([el in REDOX_METALS for el in _CATIONS])
_D0 = np.array([el in D0_METALS for el in _CATIONS])
_CRV = np.array([el in ("Cr", "V") for el in _CATIONS])


@dataclass(frozen=True)
class _Features:
    """Condition-independent descriptors of ``n`` compositions (arrays of shape ``(n,)``)."""

    buckets: np.ndarray  # (n, B+1) e/f.u. available on charge, TM couples then O redox
    mass: np.ndarray  # g/mol per f.u.
    li_access: np.ndarray  # accessible (percolating) Li, e/f.u.
    resistance: np.ndarray  # relative kinetic resistance (≈1 for Li1.2Mn0.4Ti0.4O2)
    tau_o: np.ndarray  # O-redox fade time constant, cycles
    k_tm: np.ndarray  # TM fade per cycle
    f: np.ndarray  # F per f.u.
    imbalance: np.ndarray  # charge the valence ranges cannot balance, e/f.u. (mass NaN if > slack)


def _check_conditions(rate: float, v_low: float, v_high: float, cycle: int) -> None:
    if not (math.isfinite(rate) and rate > 0):
        raise ConditionError(f"{rate=} mA/g must be a finite number > 0")
    if not (math.isfinite(v_low) and math.isfinite(v_high) and 0 < v_low < v_high):
        raise ConditionError(f"voltage window {v_low=} V, {v_high=} V must satisfy 0 < v_low < v_high")
    if int(cycle) != cycle or cycle < 1:
        raise ConditionError(f"{cycle=} must be an integer ≥ 1")


def _row(amts: Mapping[str, float]) -> np.ndarray:
    """Amounts as a row over ``_ELEMENTS``; OracleError for elements the emulator does not know."""
    row = np.zeros(len(_ELEMENTS))
    for el, a in amts.items():
        a = float(a)
        if a == 0:
            continue
        if el not in _INDEX:
            raise OracleError(
                f"the synthetic oracle has no data for element {el!r}; supported: {', '.join(_ELEMENTS)}"
            )
        if not math.isfinite(a) or a < 0:
            raise OracleError(f"amount {a} of {el} must be finite and ≥ 0")
        row[_INDEX[el]] = a
    return row


def _ladder(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valence ladder (rule 4) of an ``(n, len(_ELEMENTS))`` matrix, cations summing to 2.

    Returns the electrons each couple spans ``(n, B)``, how many of them are already oxidised in
    the as-made material ``(n, B)`` and the charge imbalance left, e/f.u. ``(n,)``.
    """
    need = 2.0 * a[:, _INDEX["O"]] + a[:, _INDEX["F"]] - a[:, : len(_CATIONS)] @ _ZMIN
    n_couple = a[:, _COUPLE_EL] * _COUPLE_DZ
    below = np.concatenate([np.zeros((a.shape[0], 1)), np.cumsum(n_couple, axis=1)[:, :-1]], axis=1)
    oxidised = np.clip(need[:, None] - below, 0.0, n_couple)
    imbalance = np.maximum(-need, 0.0) + np.maximum(need - n_couple.sum(axis=1), 0.0)
    return n_couple, oxidised, imbalance


def _normalised(a: np.ndarray) -> np.ndarray:
    cat_sum = a[:, : len(_CATIONS)].sum(axis=1, keepdims=True)
    return a * (2.0 / np.where(cat_sum > 0, cat_sum, 1.0))


def valences(amts: Mapping[str, float]) -> dict[str, float]:
    """As-made average oxidation state of each element by the oracle's valence ladder.

    Example:
        >>> valences({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0})["Mn"]
        3.0
    """
    a = _normalised(_row(amts)[None, :])
    _, oxidised, _ = _ladder(a)
    out = {
        el: float(FIXED_VALENCE.get(el, VALENCE_RANGE.get(el, (ANION_CHARGE.get(el, 0),))[0]))
        for el in amts
        if float(amts[el]) > 0
    }
    for k, (el, *_rest) in enumerate(COUPLES):
        if el in out:
            out[el] += float(oxidised[0, k] / a[0, _INDEX[el]])
    return {el: round(q, 6) for el, q in out.items()}


def _features(a: np.ndarray) -> _Features:
    """Descriptors of an ``(n, len(_ELEMENTS))`` amount matrix (cations normalised to 2 here)."""
    a = _normalised(a)
    cat = a[:, : len(_CATIONS)]
    li = a[:, _INDEX["Li"]]
    n_o, n_f = a[:, _INDEX["O"]], a[:, _INDEX["F"]]
    x = li - 1.0
    n_couple, oxidised, imbalance = _ladder(a)
    tm = (n_couple - oxidised) * _UTIL
    # percolation with cation and Li–F short-range order (rules 1-3)
    metal = cat[:, _METAL]
    frac = metal / np.maximum(metal.sum(axis=1, keepdims=True), 1e-12)
    n_eff = np.exp(-np.sum(np.where(frac > 0, frac * np.log(np.where(frac > 0, frac, 1.0)), 0.0), axis=1))
    x_eff = x - SRO_CATION / n_eff - SRO_F * n_f
    p = P_FLOOR + (P_PLATEAU - P_FLOOR) * expit((x_eff - X_PERC) / X_PERC_WIDTH)
    o_redox = O_REDOX_PER_O * n_o * SOFTPLUS_SCALE * np.logaddexp(0.0, (x - O_F_BLOCK * n_f) / SOFTPLUS_SCALE)
    crv = cat[:, _CRV].sum(axis=1)
    resistance = (
        RESISTANCE_REF
        * np.exp(-(x_eff - 0.15) / RESISTANCE_X_SCALE)
        * (1.0 - np.minimum(RESISTANCE_CR_V * crv, 0.5))
        * (1.0 - RESISTANCE_HE * (1.0 - 1.0 / n_eff))
    )
    d0 = cat[:, _D0].sum(axis=1)
    mass = a @ _MASS
    mass[imbalance > BALANCE_SLACK] = np.nan  # unbalanced rows: every result becomes NaN
    return _Features(
        buckets=np.concatenate([tm, o_redox[:, None]], axis=1),
        mass=mass,
        li_access=li * p,
        resistance=resistance,
        tau_o=O_FADE_CYCLES * (1.0 + 6.0 * n_f) * (1.0 + 1.5 * d0),
        k_tm=(TM_FADE_PER_CYCLE + TM_FADE_CR_V * crv) / (1.0 + 4.0 * n_f),
        f=n_f,
        imbalance=imbalance,
    )


def _validate_row(row: np.ndarray, label: str) -> None:
    """OracleError for a row with no redox-active metal, no Li or no O."""
    if row[: len(_CATIONS)][_REDOX].sum() <= 0:
        raise OracleError(
            f"composition {label} has no redox-active metal (one of {', '.join(sorted(REDOX_METALS))}); "
            "the synthetic oracle cannot measure a redox-inert cathode"
        )
    if row[_INDEX["Li"]] <= 0 or row[_INDEX["O"]] <= 0:
        raise OracleError(f"composition {label} needs Li and O to be a DRX oxide or oxyfluoride")


@functools.lru_cache(maxsize=65536)
def _features_one(items: tuple[tuple[str, float], ...]) -> _Features:
    row = _row(dict(items))
    label = "".join(f"{el}{a:g}" for el, a in items)
    _validate_row(row, label)
    feats = _features(row[None, :])
    if not np.isfinite(feats.mass[0]):
        raise ChargeBalanceError(
            f"composition {label} is {feats.imbalance[0]:.3f} e/f.u. off charge balance within the "
            f"oracle's valence ranges {VALENCE_RANGE} (fixed: {FIXED_VALENCE}); allowed {BALANCE_SLACK}"
        )
    return feats


def _key(amts: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((str(el), float(a)) for el, a in amts.items() if float(a) != 0))


def _charged(feats: _Features, rate: float, v_high: float, cycle: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-bucket capacity charged and then dischargeable, mAh/g ``(n, B+1)``, and η, V ``(n,)``."""
    rate_term = np.log1p(rate / RATE_REF)
    eta = (
        ETA_BASE
        + feats.resistance * (ETA_LOG * rate_term + ETA_SQRT * math.sqrt(rate))
        + ETA_GROWTH * (1.0 - math.exp(-(cycle - 1) / ETA_GROWTH_CYCLES)) / (1.0 + 3.0 * feats.f)
    )
    frac = expit((v_high - eta[:, None] - _E_CHARGE) / _S)  # fraction oxidised on charge to v_high
    avail = feats.buckets * frac
    # Li-limited charging in order of potential (rule 6): softmin of the running sum with Li
    run = np.cumsum(avail, axis=1)
    li = feats.li_access[:, None]
    soft = -SOFTMIN_TAU * np.logaddexp(-run / SOFTMIN_TAU, -li / SOFTMIN_TAU)
    soft0 = -SOFTMIN_TAU * np.logaddexp(0.0, -li / SOFTMIN_TAU)
    taken = np.diff(np.concatenate([soft0, soft], axis=1), axis=1)
    kinetic = np.exp(-feats.resistance * (LOSS_LOG * rate_term + LOSS_SQRT * math.sqrt(rate)))
    n = cycle - 1
    fade = np.empty_like(taken)
    fade[:, :-1] = np.exp(-feats.k_tm * n)[:, None]
    fade[:, -1] = O_FADE_FLOOR + (1.0 - O_FADE_FLOOR) * np.exp(-n / feats.tau_o)
    e_mah = FARADAY_MAH / feats.mass
    return taken * fade * (kinetic * e_mah)[:, None], eta


def _discharged(cap: np.ndarray, eta: np.ndarray, v: np.ndarray, v_high: float) -> np.ndarray:
    """Q(V), mAh/g ``(n, m)``, discharged from v_high down to each voltage ``v`` ``(m,)``."""
    e = (_E[None, :] - eta[:, None])[:, :, None]  # (n, B+1, 1)
    s = _S[None, :, None]
    start = expit((e - v_high) / s)
    g = (expit((e - v[None, None, :]) / s) - start) / np.maximum(1.0 - start, 1e-300)
    return np.einsum("nb,nbm->nm", cap, np.clip(g, 0.0, 1.0))


def synthetic_raw_profile(
    amts: Mapping[str, float], rate: float, v_low: float, v_high: float, cycle: int, n_raw: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free raw discharge segment of one cell.

    Args:
        amts: element -> amount per f.u. (e.g. from ``amounts("Li1.2Mn0.4Ti0.4O2")``).
        rate: current density, mA/g (> 0).
        v_low, v_high: voltage window, V.
        cycle: cycle number (≥ 1).
        n_raw: number of points.

    Returns:
        ``(V, Q)``: ``(n_raw,)`` voltages descending from v_high to v_low as measured, and the
        discharged capacity, mAh/g, ascending from 0.

    Example:
        >>> v, q = synthetic_raw_profile({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2}, 20, 1.5, 4.8, 1)
        >>> float(v[0]), float(q[0]), bool(np.all(np.diff(q) >= 0))
        (4.8, 0.0, True)
    """
    _check_conditions(rate, v_low, v_high, cycle)
    if n_raw < 2:
        raise ConditionError(f"{n_raw=} must be ≥ 2")
    feats = _features_one(_key(amts))
    cap, eta = _charged(feats, float(rate), float(v_high), int(cycle))
    v = np.linspace(float(v_high), float(v_low), int(n_raw))
    q = _discharged(cap, eta, v, float(v_high))[0]
    q[0] = 0.0
    return v, np.maximum.accumulate(q)


def true_capacity(amts: Mapping[str, float], rate: float, v_low: float, v_high: float, cycle: int) -> float:
    """Noise-free discharge capacity, mAh/g: Q at v_low of :func:`synthetic_raw_profile`."""
    _check_conditions(rate, v_low, v_high, cycle)
    feats = _features_one(_key(amts))
    cap, eta = _charged(feats, float(rate), float(v_high), int(cycle))
    return float(_discharged(cap, eta, np.array([float(v_low)]), float(v_high))[0, 0])


def true_capacities(
    compositions: Sequence[Mapping[str, float]],
    rate: float,
    v_low: float,
    v_high: float,
    cycle: int,
    *,
    on_error: Literal["raise", "nan"] = "raise",
) -> np.ndarray:
    """Noise-free capacities, mAh/g ``(n,)``, of many compositions at once (10^5 in ~2 s).

    ``on_error="nan"`` returns NaN for compositions the oracle cannot measure instead of raising.
    """
    _check_conditions(rate, v_low, v_high, cycle)
    rows = np.zeros((len(compositions), len(_ELEMENTS)))
    ok = np.ones(len(compositions), dtype=bool)
    for i, amts in enumerate(compositions):
        try:
            rows[i] = _row(amts)
            _validate_row(rows[i], repr(dict(amts)))
        except OracleError:
            if on_error == "raise":
                raise
            ok[i] = False
            rows[i] = 0.0
            rows[i, [_INDEX["Li"], _INDEX["Mn"], _INDEX["O"]]] = (1.2, 0.8, 2.0)  # placeholder
    feats = _features(rows)
    unbalanced = ~np.isfinite(feats.mass)
    if unbalanced.any() and on_error == "raise":
        i = int(np.flatnonzero(unbalanced)[0])
        raise ChargeBalanceError(
            f"composition {dict(compositions[i])!r} is {feats.imbalance[i]:.3f} e/f.u. off charge balance "
            f"within the oracle's valence ranges; allowed {BALANCE_SLACK}"
        )
    cap, eta = _charged(feats, float(rate), float(v_high), int(cycle))
    out = _discharged(cap, eta, np.array([float(v_low)]), float(v_high))[:, 0]
    out[~ok | unbalanced] = np.nan
    return out
