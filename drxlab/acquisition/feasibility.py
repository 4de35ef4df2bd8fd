"""Synthesis feasibility: P(a composition forms a phase-pure rocksalt), learned from the store.

A Bayesian L2-regularised logistic regression on a few chemistry features, with a Laplace
approximation of the weight posterior and MacKay's probit moderation of the predictive
probability. Why this and not a GP classifier: a campaign has tens of labelled syntheses and
10⁴–10⁵ candidates; the failure modes of solid-state DRX synthesis are thresholds in a few
chemical quantities (F against Li excess, Mn³⁺ against Li excess, the high-valent d⁰ amount),
which a linear model in those features separates; it fits in milliseconds, predicts 10⁵
candidates in one matrix product, and the Laplace/probit step keeps it from being over-confident
far from the data (probabilities move toward 1/2 where the weights are uncertain). The
simulation (``drxlab simulate`` with the virtual lab's synthesis rules) is the test of the choice.

Features (``n x k``, :func:`features`), from element amounts per formula unit ``A`` and average
oxidation states ``S`` (both ``n x E`` over one element list), the quantities a DRX chemist reads a
failed synthesis by (:data:`CHEMISTRY`):

- Li (Li excess), F, and their squares (solubility limits are curved);
- the mean oxidation state of the non-Li cations, ``(2·O + F − Li) / (2 − Li)``;
- the Mn³⁺ amount ``Mn · max(0, 1 − |s_Mn − 3|)`` and its share of the non-Li metals;
- the high-valent (state ≥ 5) amount, the d⁰ amount (Ti⁴⁺, Zr⁴⁺, V⁵⁺, Nb⁵⁺, Ta⁵⁺, Mo⁶⁺, W⁶⁺)
  and the d⁰ share, and the low-valent (state ≤ 2) amount;
- Li excess × F and Li excess × Mn³⁺ (F solubility and Mn³⁺ tolerance grow with Li excess);
- then the amount of each non-Li metal, under a much tighter prior (:func:`prior_for`): a failure
  tied to one element is learned only when the chemistry features cannot explain it.

The features are standardised on the candidate space, not on the labelled samples: a campaign
starts from a narrow history (e.g. 2-metal compositions with little Nb), and on its scale the
prior lets a feature the history barely varied take a steep weight from a few samples' noise,
which is then extrapolated across the whole space. On the space's scale the prior means the same
everywhere the model predicts.

Measured with ``drxlab simulate --campaign campaigns/he-drx-1e4.toml --rounds 4 --batch 8
--strategies ucb --seeds 5`` (virtual lab with its synthesis failures, 2TM starting history):
median failed syntheses 12 (per seed 17, 14, 12, 8, 9) against 25 with ``--no-feasibility``
(−52 %; the earlier features standardised on the samples: 15, −40 %), and a true top-1 % feasible
composition after a median of 13 syntheses (4 of 5 seeds) against none in 32 without P(feasible).

Why these choices (``drxlab simulate``-style emulated UCB campaigns on he-drx-1e4, 4 rounds × 8,
16 seeds, P(feasible) from the campaign's own syntheses and a 2TM starting history): median failed
syntheses −32 % against no feasibility with the earlier features standardised on the samples
(AUC over the space 0.63), −49 % standardised on the space, −53 % with these features and priors
(AUC 0.69 → 0.77 from round 1 to 4); on other failure rules (stricter F solubility, Cr+V and Ti
limits) −86 % (AUC 0.90). Chemistry features alone did as well on these rules, but would miss a
mechanism tied to one element.

How the acquisition uses it (:func:`weight_scores`): log-scaled kinds (logei, pi) add
``log P`` — EI × P(feasible), the constrained EI of Gardner et al. (2014) and Gelbart et al.
(2014); the other scores become ``floor + P · (score − floor)``, where ``floor`` is the lowest
eligible score: the expected score of a synthesis that yields nothing better than the worst
candidate when it fails (for UCB a probability-weighted UCB; the order does not depend on the
units or sign of the score). ``random`` and ``pareto`` are left unweighted.

Example:
    >>> rng = np.random.default_rng(0)
    >>> F = rng.normal(size=(200, 2))
    >>> ok = F[:, 0] + 0.3 * rng.normal(size=200) < 0.5
    >>> m = FeasibilityModel.fit(F, ok, names=("a", "b"))
    >>> p = m.predict(np.array([[-2.0, 0.0], [3.0, 0.0]]))
    >>> bool(p[0] > 0.9 and p[1] < 0.1)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from drxlab.exceptions import CampaignError

ANIONS = ("O", "F")
CHEMISTRY = (
    "Li",
    "F",
    "mean_state",
    "Mn3+",
    "Mn3+_share",
    "high_valent",
    "d0",
    "d0_share",
    "low_valent",
    "Li_excess*F",
    "Li_excess*Mn3+",
    "Li_excess^2",
    "F^2",
)
"""The chemistry features, in order, before the per-element amounts."""
D0_STATES = {"Ti": 4, "Zr": 4, "Hf": 4, "V": 5, "Nb": 5, "Ta": 5, "Mo": 6, "W": 6}
"""Oxidation states at which these cations are d⁰ (the DRX-stabilising, Li-rich-phase-forming ones)."""
PRIOR_PRECISION = 3.0  # on chemistry weights (standardised): ±0.6 log-odds per σ of the space a priori
ELEMENT_PRIOR_PRECISION = 30.0  # per-element amounts: ±0.2; only what the chemistry misses
LOG_SCALED = ("logei", "pi")  # acquisition kinds whose values are logarithms
UNWEIGHTED = ("random", "pareto")


def features(
    elements: Sequence[str], amounts: np.ndarray, states: np.ndarray
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Feature matrix ``n x k`` and the feature names (:data:`CHEMISTRY` first, then one amount
    per non-Li cation element).

    Args:
        elements: the ``E`` element symbols of the columns (cations, O and F).
        amounts: ``n x E`` amounts per formula unit (cations sum to 2).
        states: ``n x E`` average oxidation state of each element (anything where absent).
    """
    A = np.asarray(amounts, dtype=np.float64)
    S = np.asarray(states, dtype=np.float64)

    def col(el: str, M: np.ndarray) -> np.ndarray:
        return M[:, elements.index(el)] if el in elements else np.zeros(len(M))

    li, o, f = col("Li", A), col("O", A), col("F", A)
    metals = [el for el in elements if el not in (*ANIONS, "Li")]
    tm = np.maximum(2 - li, 1e-9)  # transition (and other non-Li) metal per formula unit
    mean_state = (2 * o + f - li) / tm
    mn = col("Mn", A)
    mn3 = mn * np.clip(1 - np.abs(col("Mn", S) - 3), 0, 1)

    def share(pick: Callable[[str, np.ndarray], np.ndarray]) -> np.ndarray:
        total = np.zeros(len(A))
        for el in metals:
            j = elements.index(el)
            total += A[:, j] * pick(el, S[:, j])
        return total

    high = share(lambda el, s: s >= 5 - 1e-9)
    d0 = share(lambda el, s: np.abs(s - D0_STATES.get(el, np.nan)) < 1e-6)
    low = share(lambda el, s: s <= 2 + 1e-9)
    excess = li - 1
    chem = [
        li,
        f,
        mean_state,
        mn3,
        mn3 / tm,
        high,
        d0,
        d0 / tm,
        low,
        excess * f,
        excess * mn3,
        excess**2,
        f**2,
    ]
    cols = [*chem, *(A[:, elements.index(el)] for el in metals)]
    return np.column_stack(cols), (*CHEMISTRY, *metals)


def prior_for(names: Sequence[str]) -> np.ndarray:
    """Prior precision per feature of :func:`features`: the chemistry features carry the model,
    the per-element amounts are held near zero unless the data insist (a failure mechanism tied
    to one element that the chemistry features do not describe)."""
    return np.array([PRIOR_PRECISION if n in CHEMISTRY else ELEMENT_PRIOR_PRECISION for n in names])


def state_matrix(elements: Sequence[str], species: Sequence[str], species_amounts: np.ndarray) -> np.ndarray:
    """Average oxidation state per element ``n x E`` from species amounts (``"Mn3+"`` labels) ``n x P``;
    Li is +1, O −2, F −1."""
    n = len(species_amounts)
    charge, amount = np.zeros((n, len(elements))), np.zeros((n, len(elements)))
    for j, label in enumerate(species):
        el = label.rstrip("+-0123456789")
        if el not in elements:
            continue
        q = float(label[len(el) :].rstrip("+") or 0)
        charge[:, elements.index(el)] += q * species_amounts[:, j]
        amount[:, elements.index(el)] += species_amounts[:, j]
    S = np.divide(charge, amount, out=np.zeros_like(charge), where=amount > 0)
    for el, q in (("Li", 1.0), ("O", -2.0), ("F", -1.0)):
        if el in elements:
            S[:, elements.index(el)] = q
    return S


@dataclass(frozen=True, eq=False)
class Moments:
    """Count, sum and sum of squares per feature over a set of candidates: what standardising on
    the whole space needs, summed block by block, so a space held by Ray workers in blocks gives
    the same bits as one held here (same blocks, added in the space's order).

    >>> m = Moments.combine([Moments.of(np.array([[1.0], [2.0]])), Moments.of(np.array([[3.0]]))])
    >>> m.center_scale()
    (array([2.]), array([0.81649658]))
    """

    n: int
    total: np.ndarray
    squares: np.ndarray

    @classmethod
    def of(cls, F: np.ndarray) -> Moments:
        F = np.asarray(F, dtype=np.float64)
        return cls(len(F), F.sum(axis=0), (F * F).sum(axis=0))

    @staticmethod
    def combine(parts: Iterable[Moments]) -> Moments:
        """The moments of the union, added left to right."""
        it = iter(parts)
        out = next(it)
        for m in it:
            out = Moments(out.n + m.n, out.total + m.total, out.squares + m.squares)
        return out

    def center_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and (population) standard deviation per feature."""
        mean = self.total / self.n
        return mean, np.sqrt(np.maximum(self.squares / self.n - mean * mean, 0.0))


@dataclass(frozen=True, eq=False)
class FeasibilityModel:
    """A fitted Bayesian logistic regression of synthesis success (Laplace posterior).

    Attributes:
        names: the ``k`` feature names; center, scale: ``(k,)`` standardisation.
        weights: ``(k + 1,)`` MAP weights, intercept first; cov: ``(k+1) x (k+1)`` posterior covariance.
        n_success, n_failed: the labelled syntheses it was fitted on.
    """

    names: tuple[str, ...]
    center: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    cov: np.ndarray
    n_success: int
    n_failed: int

    @classmethod
    def fit(
        cls,
        F: np.ndarray,
        success: np.ndarray,
        *,
        names: Sequence[str],
        prior_precision: float | np.ndarray = PRIOR_PRECISION,
        reference: Moments | None = None,
    ) -> FeasibilityModel:
        """Fit on features ``F`` (``n x k``) and outcomes ``success`` (``(n,)`` bool).

        ``prior_precision``: one value or one per feature, on standardised weights.
        ``reference``: feature moments of the population to standardise on (the candidate space),
        so that the prior means the same over the whole space the model predicts; by default
        ``F`` itself.

        Raises :class:`~drxlab.exceptions.CampaignError` without both outcomes (nothing to learn).
        """
        F = np.asarray(F, dtype=np.float64)
        y = np.asarray(success, dtype=bool)
        if F.ndim != 2 or y.shape != (len(F),) or F.shape[1] != len(names):
            raise CampaignError(
                f"F must be n x k with k = {len(names)} names and success (n,); got {F.shape}, {y.shape}"
            )
        if not np.isfinite(F).all():
            raise CampaignError("feasibility features must be finite")
        n_ok, n_bad = int(y.sum()), int((~y).sum())
        if n_ok == 0 or n_bad == 0:
            raise CampaignError(
                f"a feasibility model needs both successful and failed syntheses; got {n_ok} and {n_bad}"
            )
        center, scale = (Moments.of(F) if reference is None else reference).center_scale()
        scale[scale < 1e-9] = 1.0
        Z = np.hstack([np.ones((len(F), 1)), (F - center) / scale])
        sign = np.where(y, 1.0, -1.0)
        prior = np.empty(Z.shape[1])
        prior[1:] = prior_precision
        prior[0] = 1e-4  # the intercept is the base rate: nearly unpenalised

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            margin = sign * (Z @ w)
            grad = -(Z.T @ (sign * expit(-margin))) + prior * w
            return float(-log_expit(margin).sum() + 0.5 * (prior * w * w).sum()), grad

        w = minimize(loss, np.zeros(Z.shape[1]), jac=True, method="L-BFGS-B").x
        p = expit(Z @ w)
        hessian = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(prior)
        return cls(tuple(names), center, scale, w, np.linalg.inv(hessian), n_ok, n_bad)

    def predict(self, F: np.ndarray) -> np.ndarray:
        """Moderated P(success) per row of ``F`` (``n x k``), shape ``(n,)``."""
        Z = np.hstack([np.ones((len(F), 1)), (np.asarray(F, dtype=np.float64) - self.center) / self.scale])
        mean = Z @ self.weights
        var = np.einsum("ij,jk,ik->i", Z, self.cov, Z)
        return expit(mean / np.sqrt(1 + np.pi * var / 8))

    def describe(self) -> str:
        """One line: data and the strongest features (standardised weights)."""
        top = np.argsort(-np.abs(self.weights[1:]))[:3]
        terms = ", ".join(f"{self.names[i]} {self.weights[1 + i]:+.2f}" for i in top)
        return f"logistic on {self.n_success} successful / {self.n_failed} failed syntheses ({terms})"


def weight_scores(
    scores: np.ndarray, p_feasible: np.ndarray, kind: str, floor: float | None = None
) -> np.ndarray:
    """Acquisition scores ``(n,)`` weighted by P(feasible) ``(n,)`` (module docstring); ``-inf``
    (ineligible) stays ``-inf``. ``floor``: the lowest eligible score of the whole space when
    ``scores`` are only part of it (a distributed screen); default the lowest finite one here."""
    scores = np.asarray(scores, dtype=np.float64)
    p = np.clip(np.asarray(p_feasible, dtype=np.float64), 1e-12, 1.0)
    if p.shape != scores.shape:
        raise CampaignError(f"p_feasible must have shape {scores.shape}; got {p.shape}")
    if kind in UNWEIGHTED:
        return scores
    if kind in LOG_SCALED:
        return scores + np.log(p)
    finite = np.isfinite(scores)
    if not finite.any():
        return scores
    floor = scores[finite].min() if floor is None else floor
    return np.where(finite, floor + p * (scores - floor), scores)
