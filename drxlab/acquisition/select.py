"""Choose a diverse batch of candidate compositions from precomputed ensemble predictions.

Inputs are plain arrays (this module never touches the store, the CLI or the model package):
``X`` is the ``n x d`` candidate feature matrix (element amounts per formula unit; the L1
distance between rows is the composition distance) and ``Y`` the ``s x n x m`` member
predictions (objective 0 is the primary one, e.g. capacity in mAh/g). All objectives are
maximised; negate a minimised one before calling.

How each ``kind`` is scored (acquisition code is BoTorch's, evaluated once over all candidates
in chunks of :data:`CHUNK` through :class:`~drxlab.acquisition.botorch_model.PrecomputedEnsembleModel`,
whose posterior reports the population spread σ_Q):

==========  ===================================================================================
ucb         ``UpperConfidenceBound(beta=kappa**2)``: exactly ``mean + kappa * σ`` (objective 0)
logei       ``LogExpectedImprovement(best_f)``: log EI under N(mean, σ²) (objective 0)
pi          ``LogProbabilityOfImprovement(best_f)``: log PI under N(mean, σ²) (objective 0)
greedy      ``PosteriorMean``: the ensemble mean of objective 0
explore     ``PosteriorStandardDeviation``: σ of objective 0 (population, ddof=0)
thompson    one ensemble member per batch slot, drawn by a seeded ``IndexSampler``; the slot
            takes that member's best prediction (``rsample_from_base_samples``)
pareto      non-dominated layers of the posterior means (``is_non_dominated``), best first, found
            lazily; within a layer by exclusive hypervolume contribution (m = 2) or by the
            hypervolume the point dominates alone (m >= 3), w.r.t. ``ref_point`` (default
            ``infer_reference_point`` over the eligible candidates' means)
random      a seeded uniform random order (a baseline)
==========  ===================================================================================

Batch construction (why not ``optimize_acqf_discrete``): the ensemble cannot be conditioned on
fantasies, so for these q=1 acquisition functions ``X_pending`` would not change the scores,
and ``optimize_acqf_discrete``'s ``X_avoid`` removes exact matches only (with an
``n x n_avoid x d`` comparison). Instead the scores give one order and the batch is built by
sequential greedy selection along it, skipping excluded candidates and any candidate whose L1
distance to an already picked one is below ``min_distance``. Each pick costs one ``O(n d)``
distance pass, so memory stays ``O(n d)``. If the space runs out, fewer are returned and
:attr:`Selection.warning` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from botorch.acquisition.analytic import (
    AnalyticAcquisitionFunction,
    LogExpectedImprovement,
    LogProbabilityOfImprovement,
    PosteriorMean,
    PosteriorStandardDeviation,
    UpperConfidenceBound,
)
from botorch.sampling.index_sampler import IndexSampler
from botorch.utils.multi_objective.hypervolume import Hypervolume, infer_reference_point
from botorch.utils.multi_objective.pareto import is_non_dominated

from drxlab.acquisition.botorch_model import PrecomputedEnsembleModel
from drxlab.acquisition.feasibility import weight_scores
from drxlab.exceptions import CampaignError
from drxlab.vocabulary import AcquisitionKind, values

__all__ = ["CHUNK", "KINDS", "Selection", "hypervolume_contributions", "score_block", "select_batch"]

KINDS: tuple[str, ...] = values(AcquisitionKind)
"""The acquisition kinds :func:`select_batch` accepts (:class:`~drxlab.vocabulary.AcquisitionKind`)."""

CHUNK = 16384
"""Candidates per BoTorch evaluation (bounds memory at ``CHUNK x s x m`` per call)."""

_BLOCK = 2048
"""Points per block when streaming Pareto layers (bounds memory at ``_BLOCK**2 x m`` booleans)."""

Proposer = Callable[[np.ndarray, int], "int | None"]


@dataclass(frozen=True, eq=False)
class Selection:
    """A batch of suggested candidates, in the order they were picked."""

    kind: str
    """The acquisition kind that produced the batch (one of :data:`KINDS`)."""
    indices: np.ndarray
    """Candidate row indices into ``X``/``Y``, shape ``(b,)``, ``b <= requested``."""
    acquisition: np.ndarray
    """Acquisition value per pick, shape ``(b,)`` (log EI / log PI for logei / pi; the drawn
    member's prediction for thompson; for pareto the exclusive hypervolume contribution within
    its layer (m = 2) or the hypervolume it dominates alone (m >= 3))."""
    mean: np.ndarray
    """Ensemble mean per pick and objective, shape ``(b, m)`` (objective units, e.g. mAh/g)."""
    std: np.ndarray
    """Ensemble population standard deviation σ (ddof=0) per pick and objective, ``(b, m)``."""
    min_distance: float
    """Smallest pairwise L1 distance within the batch (``inf`` when ``b < 2``)."""
    requested: int
    """The batch size that was asked for."""
    warning: str | None = None
    """Why fewer than ``requested`` were returned; ``None`` for a full batch."""
    front: np.ndarray | None = None
    """Pareto layer per pick (0 = non-dominated), shape ``(b,)``; ``None`` unless kind is pareto."""

    @property
    def complete(self) -> bool:
        """Whether the batch holds as many candidates as were requested."""
        return len(self.indices) == self.requested

    def __len__(self) -> int:
        return len(self.indices)


def select_batch(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    kind: str,
    batch: int,
    kappa: float = 2.0,
    best_f: float | None = None,
    xi: float = 0.0,
    min_distance: float = 0.1,
    exclude: np.ndarray | None = None,
    seed: int = 0,
    ref_point: np.ndarray | None = None,
    feasibility: np.ndarray | None = None,
    scores: np.ndarray | None = None,
) -> Selection:
    """Pick up to ``batch`` diverse candidates by the acquisition ``kind``.

    Args:
        X: ``n x d`` candidate features (element amounts per formula unit).
        Y: ``s x n x m`` member predictions; objective 0 is the primary one.
        kind: One of :data:`KINDS`.
        batch: Number of suggestions wanted (>= 1).
        kappa: UCB exploration weight: score = mean + kappa * σ.
        best_f: Best measured value of objective 0; required by logei and pi.
        xi: Improvement margin for logei and pi (>= 0): improvement counts over ``best_f + xi``.
        min_distance: Smallest allowed L1 distance between two picks (>= 0).
        exclude: Boolean mask ``(n,)`` of candidates already made or suggested.
        seed: Seed for thompson and random (every kind is deterministic for a seed).
        ref_point: ``(m,)`` hypervolume reference point for pareto (maximisation).
        feasibility: ``(n,)`` P(synthesis succeeds) weighting ucb/logei/pi/greedy/explore scores
            (:func:`drxlab.acquisition.feasibility.weight_scores`); ``None`` for no weighting.
        scores: ``(n,)`` acquisition values already computed (ucb, logei, pi, greedy, explore),
            ``-inf`` where not eligible: :func:`score_block` block by block, as the local round
            and a distributed screen's workers compute them; ``feasibility`` still weights them.

    Returns:
        A :class:`Selection`; fewer than ``batch`` picks only when the distance rule or the
        exclusions leave no more candidates (then ``warning`` says so).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sel = select_batch(rng.random((50, 3)), rng.normal(size=(5, 50, 1)), kind="ucb", batch=4)
        >>> len(sel), sel.min_distance >= 0.1
        (4, True)
    """
    X, Y, eligible = _validate(X, Y, kind, batch, kappa, best_f, xi, min_distance, exclude, ref_point)
    kind = AcquisitionKind(kind)
    model = PrecomputedEnsembleModel(Y)
    front: np.ndarray | None = None
    if kind == "thompson":
        acq, propose = _thompson(model, batch, seed)
    elif kind == "pareto":
        acq, front, propose = _pareto(model, eligible, ref_point)
    elif kind == "random":
        acq = np.random.default_rng(seed).random(X.shape[0])
        propose = _ordered(acq)
    else:
        acq = score_block(Y, eligible, kind, kappa, best_f, xi) if scores is None else np.asarray(scores)
        if feasibility is not None:
            acq = weight_scores(acq, feasibility, kind)
        propose = _ordered(acq)
    picks, achieved = _diverse_greedy(X, eligible, batch, min_distance, propose)
    mean, std = _moments(model, picks)
    warning = None
    if len(picks) < batch:
        warning = (
            f"only {len(picks)} of {batch} requested candidates are at L1 distance >= {min_distance} "
            f"from each other and not excluded; returning {len(picks)}"
        )
    values = acq[picks] if acq.ndim == 1 else acq[np.arange(len(picks)), picks]
    return Selection(
        kind=kind,
        indices=_frozen(picks),
        acquisition=_frozen(values),
        mean=_frozen(mean),
        std=_frozen(std),
        min_distance=achieved,
        requested=batch,
        warning=warning,
        front=None if front is None else _frozen(front[picks]),
    )


def _validate(
    X: np.ndarray,
    Y: np.ndarray,
    kind: str,
    batch: int,
    kappa: float,
    best_f: float | None,
    xi: float,
    min_distance: float,
    exclude: np.ndarray | None,
    ref_point: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the arguments; return float X, float Y and the boolean mask of pickable rows."""
    if kind not in KINDS:
        raise CampaignError(f"{kind=} is not an acquisition kind; allowed: {', '.join(KINDS)}")
    if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
        raise CampaignError(f"{batch=} must be an integer >= 1")
    if not np.isfinite(min_distance) or min_distance < 0:
        raise CampaignError(f"{min_distance=} must be a finite L1 distance >= 0")
    if not np.isfinite(kappa) or kappa < 0:
        raise CampaignError(f"{kappa=} must be finite and >= 0")
    if not np.isfinite(xi) or xi < 0:
        raise CampaignError(f"{xi=} must be finite and >= 0")
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 3 or Y.shape[1] != X.shape[0]:
        raise CampaignError(f"X must be n x d and Y s x n x m; got X{X.shape}, Y{Y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise CampaignError("X and Y must be finite (no NaN or inf predictions)")
    if AcquisitionKind(kind).needs_best and (best_f is None or not np.isfinite(best_f)):
        raise CampaignError(f"{kind=} needs best_f, the best measured value of objective 0; got {best_f=}")
    if kind == "pareto":
        if Y.shape[2] < 2:
            raise CampaignError(f"kind='pareto' needs m >= 2 objectives; Y has m={Y.shape[2]}")
        if ref_point is not None and (
            np.shape(ref_point) != (Y.shape[2],) or not np.isfinite(ref_point).all()
        ):
            raise CampaignError(
                f"ref_point must have one finite value per objective (m={Y.shape[2]}); got {ref_point}"
            )
    eligible = np.ones(X.shape[0], dtype=bool)
    if exclude is not None:
        exclude = np.asarray(exclude)
        if exclude.dtype != bool or exclude.shape != (X.shape[0],):
            raise CampaignError(
                f"exclude must be a boolean mask of shape ({X.shape[0]},); "
                f"got {exclude.dtype} {exclude.shape}"
            )
        eligible &= ~exclude
    if not eligible.any():
        raise CampaignError(
            f"no candidates left: all {X.shape[0]} compositions are already made or suggested"
        )
    return X, Y, eligible


def score_block(
    Y: np.ndarray, eligible: np.ndarray, kind: str, kappa: float, best_f: float | None, xi: float
) -> np.ndarray:
    """Acquisition values ``(n,)`` of a single-objective ``kind`` from member predictions
    ``s x n x m`` (objective 0), ``-inf`` where ``eligible`` is False. Each value depends only on
    its candidate's predictions, but the library's vectorised arithmetic can round the last bit
    differently for another batch shape: callers that must agree score the same blocks."""
    primary = PrecomputedEnsembleModel(np.asarray(Y)[..., :1])
    threshold = None if best_f is None else best_f + xi
    return _evaluate(_acquisition_function(primary, kind, kappa, threshold), eligible)


def _acquisition_function(
    model: PrecomputedEnsembleModel, kind: str, kappa: float, best_f: float | None
) -> AnalyticAcquisitionFunction:
    """The BoTorch analytic acquisition function for a single-objective ``kind``."""
    if kind == "ucb":
        return UpperConfidenceBound(model, beta=float(kappa) ** 2)
    if kind == "logei":
        return LogExpectedImprovement(model, best_f=float(best_f))
    if kind == "pi":
        return LogProbabilityOfImprovement(model, best_f=float(best_f))
    if kind == "greedy":
        return PosteriorMean(model)
    return PosteriorStandardDeviation(model)


def _evaluate(acqf: AnalyticAcquisitionFunction, eligible: np.ndarray) -> np.ndarray:
    """Acquisition values of the eligible candidates (``-inf`` elsewhere), shape ``(n,)``."""
    idx = np.flatnonzero(eligible)
    inputs = torch.as_tensor(idx, dtype=torch.float64).view(-1, 1, 1)  # n' x q=1 x d=1
    with torch.no_grad():
        values = torch.cat([acqf(inputs[i : i + CHUNK]) for i in range(0, len(idx), CHUNK)])
    out = np.full(eligible.shape[0], -np.inf)
    out[idx] = values.numpy()
    return out


def _moments(model: PrecomputedEnsembleModel, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and population σ at candidates ``idx``, each ``len(idx) x m``."""
    m = model.num_outputs
    if len(idx) == 0:
        return np.zeros((0, m)), np.zeros((0, m))
    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(idx), CHUNK):
            inputs = torch.as_tensor(idx[i : i + CHUNK], dtype=torch.float64).view(-1, 1, 1)
            post = model.posterior(inputs)
            means.append(post.mean.reshape(-1, m))
            stds.append(post.variance.reshape(-1, m).sqrt())
    return torch.cat(means).numpy(), torch.cat(stds).numpy()


def _ordered(scores: np.ndarray) -> Proposer:
    """A proposer walking ``scores`` from high to low (ties by lower index)."""
    order = np.argsort(-scores, kind="stable")
    position = 0

    def propose(eligible: np.ndarray, slot: int) -> int | None:
        nonlocal position
        while position < len(order) and not eligible[order[position]]:
            position += 1
        return int(order[position]) if position < len(order) else None

    return propose


def _diverse_greedy(
    X: np.ndarray, eligible: np.ndarray, batch: int, min_distance: float, propose: Proposer
) -> tuple[np.ndarray, float]:
    """Sequential greedy picks; each pick removes candidates closer than ``min_distance`` (L1).

    Returns the picked indices and the smallest pairwise L1 distance among them.
    """
    eligible = eligible.copy()
    picks: list[int] = []
    achieved = np.inf
    for slot in range(batch):
        i = propose(eligible, slot)
        if i is None:
            break
        distance = np.abs(X - X[i]).sum(axis=1)
        if picks:
            achieved = min(achieved, float(distance[picks].min()))
        picks.append(i)
        eligible &= distance >= min_distance
        eligible[i] = False
    return np.asarray(picks, dtype=np.int64), achieved


def _thompson(model: PrecomputedEnsembleModel, batch: int, seed: int) -> tuple[np.ndarray, Proposer]:
    """One seeded ensemble-member draw per slot; the slot proposes that member's best candidate.

    Returns the ``batch x n`` sampled values and the proposer.
    """
    inputs = model.candidate_inputs()  # n x 1: one joint posterior over all candidates
    with torch.no_grad():
        joint = model.posterior(inputs, output_indices=[0])
        sampler = IndexSampler(sample_shape=torch.Size([batch]), seed=seed)
        sampler(model.posterior(inputs[:1], output_indices=[0]))  # draws the member per slot
        members = sampler.base_samples
        samples = np.stack(
            [
                joint.rsample_from_base_samples(torch.Size([1]), members[j : j + 1])[0, :, 0].numpy()
                for j in range(batch)
            ]
        )

    def propose(eligible: np.ndarray, slot: int) -> int | None:
        if not eligible.any():
            return None
        return int(np.where(eligible, samples[slot], -np.inf).argmax())

    return samples, propose


def _pareto(
    model: PrecomputedEnsembleModel, eligible: np.ndarray, ref_point: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, Proposer]:
    """Non-dominated layers of the posterior means, produced lazily, best layer first.

    Within a layer: for m = 2 by exclusive hypervolume contribution (exact, the layer is found
    whole by a sweep); for m >= 3 by the hypervolume each point dominates alone,
    ``prod(max(y - ref, 0))``, which is compatible with dominance, so a layer can be streamed
    in that order without finding all of it (large 3-objective fronts stay cheap).

    Returns the score per candidate, the layer per candidate (-1 = not reached) and the proposer.
    """
    means, _ = _moments(model, np.arange(model.num_candidates))
    if ref_point is None:
        ref = infer_reference_point(torch.as_tensor(means[eligible])).numpy()
    else:
        ref = np.asarray(ref_point, dtype=np.float64)
    score = np.zeros(len(means))
    front = np.full(len(means), -1)
    stream = _layers_2d(means, eligible, ref, score) if means.shape[1] == 2 else None
    if stream is None:
        score[:] = np.prod(np.maximum(means - ref, 0.0), axis=1)
        stream = _layers_streamed(means, eligible, score)

    def propose(eligible: np.ndarray, slot: int) -> int | None:
        for i, layer in stream:
            front[i] = layer
            if eligible[i]:
                return i
        return None

    return score, front, propose


def _layers_2d(
    means: np.ndarray, pool: np.ndarray, ref: np.ndarray, score: np.ndarray
) -> Iterator[tuple[int, int]]:
    """Yield ``(index, layer)`` for m = 2: whole layers by sweep, each by HV contribution."""
    remaining = np.flatnonzero(pool)
    layer = 0
    while len(remaining):
        members = _first_front_2d(means, remaining)
        score[members] = hypervolume_contributions(means[members], ref)
        for i in members[np.argsort(-score[members], kind="stable")]:
            yield int(i), layer
        remaining = np.setdiff1d(remaining, members, assume_unique=True)
        layer += 1


def _first_front_2d(means: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Indices (from ``pool``) of the non-dominated 2-objective means, sorted.

    Duplicated means count once (the lowest index), as in BoTorch's ``is_non_dominated``.
    """
    Yp = means[pool]
    order = pool[np.lexsort((pool, -Yp[:, 1], -Yp[:, 0]))]  # y0 desc, then y1 desc, then index
    front: list[int] = []
    layer_points = np.empty((0, means.shape[1]))
    for start in range(0, len(order), _BLOCK):
        block = _block_front(means, order[start : start + _BLOCK], layer_points)
        front.extend(block)
        layer_points = np.vstack([layer_points, means[block]])
    return np.sort(np.asarray(front, dtype=np.int64))


def _block_front(means: np.ndarray, block: np.ndarray, layer_points: np.ndarray) -> np.ndarray:
    """The points of ``block`` (indices, in an order where a dominator precedes what it dominates)
    that join the layer found so far: not weakly dominated by it, and non-dominated in the block
    (BoTorch's ``is_non_dominated``, the first of equal points kept)."""
    block = block[~_covered(means[block], layer_points)]
    return block[is_non_dominated(torch.as_tensor(means[block])).numpy()]


def _layers_streamed(means: np.ndarray, pool: np.ndarray, score: np.ndarray) -> Iterator[tuple[int, int]]:
    """Yield ``(index, layer)`` in (layer, score desc) order, finding each layer block by block.

    Candidates are scanned in an order where a dominator always precedes what it dominates
    (``score`` desc, then the normalised sum desc, then index), so each block's survivors
    (:func:`_block_front`) join the layer and are final.
    """
    span = np.maximum(means[pool].max(axis=0) - means[pool].min(axis=0), 1e-12)
    idx = np.flatnonzero(pool)
    remaining = idx[np.lexsort((idx, -(means[idx] / span).sum(axis=1), -score[idx]))]
    layer = 0
    while len(remaining):
        found = np.zeros(len(remaining), dtype=bool)
        layer_points = np.empty((0, means.shape[1]))
        for start in range(0, len(remaining), _BLOCK):
            chunk = remaining[start : start + _BLOCK]
            members = _block_front(means, chunk, layer_points)
            found[start : start + len(chunk)] = np.isin(chunk, members)
            layer_points = np.vstack([layer_points, means[members]])
            for i in members:
                yield int(i), layer
        remaining = remaining[~found]
        layer += 1


def _covered(points: np.ndarray, layer_points: np.ndarray) -> np.ndarray:
    """Whether each of ``points`` is weakly dominated by (>= in every objective) a layer point."""
    covered = np.zeros(len(points), dtype=bool)
    for start in range(0, len(layer_points), _BLOCK):
        chunk = layer_points[start : start + _BLOCK]
        covered |= (chunk[None, :, :] >= points[:, None, :]).all(axis=-1).any(axis=1)
    return covered


def hypervolume_contributions(front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Exclusive hypervolume contribution of each point of a non-dominated set (maximisation).

    Exact: for m = 2 by a sorted sweep; for m >= 3 by leave-one-out with BoTorch's
    ``Hypervolume`` (fine for fronts of tens of points). Points that do not strictly dominate
    ``ref`` contribute 0.

    Args:
        front: ``k x m`` mutually non-dominated, distinct points.
        ref: ``m`` reference point.

    Returns:
        ``(k,)`` contributions (objective units multiplied, e.g. mAh/g x Wh/kg).
    """
    out = np.zeros(len(front))
    inside = np.flatnonzero((front > ref).all(axis=1))
    F = front[inside]
    if len(F) == 0:
        return out
    if F.shape[1] == 2:
        order = np.argsort(-F[:, 0], kind="stable")  # y0 descending => y1 ascending
        y0, y1 = F[order, 0], F[order, 1]
        width = y0 - np.append(y0[1:], ref[0])
        height = y1 - np.insert(y1[:-1], 0, ref[1])
        out[inside[order]] = width * height
        return out
    hv = Hypervolume(torch.as_tensor(ref, dtype=torch.float64))
    points = torch.as_tensor(F)
    total = hv.compute(points)
    out[inside] = [total - hv.compute(torch.cat([points[:i], points[i + 1 :]])) for i in range(len(F))]
    return out


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only copy (Selection is a frozen value object)."""
    array = np.array(array)
    array.setflags(write=False)
    return array
