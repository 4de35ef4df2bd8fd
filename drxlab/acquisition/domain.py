"""Applicability domain: is a suggestion close to data, and is the ensemble confident there?

Distances are L1 over the element-amount-per-formula-unit feature rows used by
:func:`drxlab.acquisition.select.select_batch`; e.g. Li1.2Mn0.4Ti0.4O2 and Li1.2Mn0.6Ti0.2O2 are
0.4 apart (0.2 Mn + 0.2 Ti).

Defaults:

* :data:`DISTANCE_THRESHOLD` = 0.4 — farther than that from every measured composition means
  at least ~0.2 of a cation site per formula unit is swapped relative to anything with data,
  the scale on which DRX capacities change qualitatively (percolation, Mn/Ti redox budget).
* :data:`SIGMA_FACTOR` = 2.0 — σ_Q above twice the median σ_Q over the candidate space counts
  as high; :func:`sigma_threshold` turns the space's σ values into that threshold.
"""

from __future__ import annotations

import numpy as np

from drxlab.exceptions import CampaignError

__all__ = [
    "DISTANCE_THRESHOLD",
    "DRX_ELEMENTS",
    "EXTRAPOLATING",
    "IN_DOMAIN",
    "OUT_OF_DOMAIN",
    "SIGMA_FACTOR",
    "UNCERTAIN",
    "domain_flag",
    "foreign_elements",
    "nearest_known",
    "sigma_threshold",
]

DISTANCE_THRESHOLD = 0.4
"""L1 distance (element amounts per formula unit) beyond which a suggestion is extrapolating."""

SIGMA_FACTOR = 2.0
"""σ_Q above ``SIGMA_FACTOR`` x median σ_Q over the candidate space is flagged uncertain."""

IN_DOMAIN = "in-domain"
OUT_OF_DOMAIN = "out-of-domain: elements outside the DRX data"

DRX_ELEMENTS = frozenset(
    {
        "Li",
        "O",
        "F",
        # cations of the disordered-rocksalt literature the DRXNet training data (DRX-TD) draws on:
        # redox-active 3d metals, d0 / high-valent charge compensators and a few inactive dopants
        "Mg",
        "Al",
        "Sc",
        "Ti",
        "V",
        "Cr",
        "Mn",
        "Fe",
        "Co",
        "Ni",
        "Cu",
        "Zn",
        "Ga",
        "Y",
        "Zr",
        "Nb",
        "Mo",
        "Ru",
        "In",
        "Sn",
        "Sb",
        "Ta",
        "W",
    }
)
"""Elements a DRX cathode model has seen; anything else (e.g. Tl, Po) is outside its domain."""
EXTRAPOLATING = "extrapolating: far from data"
UNCERTAIN = "uncertain: σ high"

_ROWS_PER_CHUNK = 256


def nearest_known(X_sel: np.ndarray, known_X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest composition with data for each suggestion, by L1 distance.

    Args:
        X_sel: ``b x d`` feature rows of the suggestions.
        known_X: ``k x d`` feature rows of the compositions with data (may be empty).

    Returns:
        ``(index, distance)``, each of shape ``(b,)``: row of ``known_X`` (lowest on ties) and its
        L1 distance. With no known compositions, index is -1 and distance ``inf``.

    Example:
        >>> nearest_known(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 0.5]]))
        (array([1]), array([0.5]))
    """
    X_sel = np.asarray(X_sel, dtype=np.float64)
    known_X = np.asarray(known_X, dtype=np.float64)
    if X_sel.ndim != 2 or known_X.ndim != 2 or (len(known_X) and known_X.shape[1] != X_sel.shape[1]):
        raise CampaignError(f"X_sel must be b x d and known_X k x d; got {X_sel.shape} and {known_X.shape}")
    if len(known_X) == 0:
        return np.full(len(X_sel), -1, dtype=np.int64), np.full(len(X_sel), np.inf)
    index = np.empty(len(X_sel), dtype=np.int64)
    distance = np.empty(len(X_sel))
    step = max(1, _ROWS_PER_CHUNK * 1024 // max(1, len(known_X) * X_sel.shape[1]))
    for start in range(0, len(X_sel), step):
        block = np.abs(X_sel[start : start + step, None, :] - known_X[None]).sum(axis=-1)
        index[start : start + step] = block.argmin(axis=1)
        distance[start : start + step] = block.min(axis=1)
    return index, distance


def sigma_threshold(sigma_space: np.ndarray, factor: float = SIGMA_FACTOR) -> float:
    """``factor`` x the median σ_Q over the candidate space (same units as σ, e.g. mAh/g)."""
    sigma_space = np.asarray(sigma_space, dtype=np.float64)
    if sigma_space.size == 0:
        raise CampaignError("sigma_space is empty; need the σ of at least one candidate")
    return float(factor * np.median(sigma_space))


def domain_flag(
    sigma: float,
    distance: float,
    sigma_threshold: float,
    distance_threshold: float = DISTANCE_THRESHOLD,
) -> str:
    """Classify one suggestion.

    Args:
        sigma: Ensemble σ_Q of the suggestion (population std, e.g. mAh/g).
        distance: L1 distance to the nearest composition with data (:func:`nearest_known`).
        sigma_threshold: σ above which the ensemble is uncertain; see :func:`sigma_threshold`.
        distance_threshold: Distance above which the suggestion extrapolates.

    Returns:
        :data:`EXTRAPOLATING` if far from data (checked first), else :data:`UNCERTAIN` if σ is
        high, else :data:`IN_DOMAIN`.

    Example:
        >>> domain_flag(5.0, 0.1, sigma_threshold=20.0)
        'in-domain'
    """
    if distance > distance_threshold:
        return EXTRAPOLATING
    if sigma > sigma_threshold:
        return UNCERTAIN
    return IN_DOMAIN


def foreign_elements(amounts: dict[str, float], known: frozenset[str] | set[str] = DRX_ELEMENTS) -> list[str]:
    """Elements of a composition outside ``known`` (by default :data:`DRX_ELEMENTS`), sorted.

    Example:
        >>> foreign_elements({"Li": 1.2, "Tl": 0.4, "Ti": 0.4, "O": 2.0})
        ['Tl']
    """
    return sorted(el for el, a in amounts.items() if a > 0 and el not in known)
