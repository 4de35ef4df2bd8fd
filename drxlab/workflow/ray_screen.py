"""Screening a candidate space on a Ray cluster with the driver's memory bounded by the batch size.

How the work is cut. The space is the generator's stream of blocks of :data:`BLOCK` candidates
(the same blocks :func:`drxlab.workflow.screening.screen` predicts, so every model call sees the
same inputs and returns bit-identical values). Worker ``a`` of ``W`` (a Ray actor holding the
ensemble, put once in the object store) takes blocks ``a, a + W, a + 2W, …``: it runs
the generator from the campaign spec itself and skips the others' blocks (enumeration runs at
~150,000 candidates/s, ~30x the model, so the skipping costs ~W/30 of a worker's time; no
candidate ever crosses the network). The worker keeps its blocks' predictions and returns only
counts; the driver then asks for

* the two medians the round needs (the primary objective's σ over the space for the domain
  flag, and its mean: logEI / PI's ``best_f`` when nothing is measured yet and the scale of the
  calibration's fallback prior): an exact
  distributed selection, a binary search over the 64-bit order of float64 values in which each
  worker answers "how many of your values are ≤ x" (64 rounds of one integer per worker);
* the predictions at the campaign's measured and pending compositions (a few rows, kept as
  each block is predicted), from which the driver fits the round's posterior transform
  (:mod:`drxlab.workflow.posterior`: the calibration, the pending samples' kriging believer,
  the feasibility model; a picklable value of a few hundred floats) exactly as the local round
  fits it from its own screen's rows; the feasibility model is standardised on the space's
  feature moments (count, sum, sum of squares), which each worker computes per held block and
  the driver adds in block order, as the local round adds its own blocks;
* a scoring pass: every worker applies that transform to each held block
  (:meth:`~drxlab.acquisition.posterior.PosteriorTransform.apply`, the function the local round
  applies to the same blocks), drops candidates within ``min_distance`` of a pending one, and
  scores each block with :func:`~drxlab.acquisition.select.score_block`; with P(feasible) the
  driver takes the min of the workers' lowest eligible scores (the local weighting's floor, an
  exact min) and the workers weight their scores with it;
* each worker's top ``k`` eligible candidates by that score, ordered by (score descending,
  candidate index ascending), with their raw, calibrated and ranked predictions and P(feasible).

Why the scores are the local ones, bit for bit. After the transform is fitted, the score of a
candidate depends only on that candidate (its predictions, element and species amounts) and on
what was shipped (the transform, ``best_f``, the floor): the calibrated mean and σ, the believer's
gain and P(feasible) are per-candidate formulas. A library routine (the GP posterior, a matrix
product, torch's vectorised acquisition arithmetic) may still round the last bit differently for
another batch shape, so the local round computes them in the same blocks (its screen's
``chunk``, the workers' ``block``), and the driver never recomputes a score: the rows it hands
to the recording step carry the workers' values.

Why the merged top lists give exactly the local batch. The local rule
(:func:`drxlab.acquisition.select.select_batch`) walks all eligible candidates in the order
(score desc, index asc) and picks a candidate unless it lies closer than ``min_distance`` to an
earlier pick; each decision depends only on the candidates before it in that order. The driver
merges the workers' lists in the same order and runs the same walk until the batch is full, at
position ``p``. Every candidate a worker left out comes, in the global order, after the last one
it sent. So if, for every worker that left some out, its last sent candidate is not before
``p``, then the merged list contains the whole global prefix up to ``p``, and the walk over it
makes the same picks as the walk over the whole space. The walk passes over at most
``batch x (1 + B)`` candidates, ``B`` being the most grid points within ``min_distance`` of one
candidate, so a large enough ``k`` always suffices; the driver starts with a small ``k`` and,
when the condition fails (or the merged list runs out before the batch is full), asks the
workers concerned for four times as many rows (from their cached scores: the model is not run
again) until it holds. The rows handed to the recording step are then sorted by candidate index
so ties break as they would locally.

Fault tolerance: workers are restarted by Ray after a crash (``max_restarts``) and the call is
retried (``max_task_retries``); a restarted worker has lost the blocks it held, so before
scoring the driver asks every worker which of its blocks it holds and has the missing ones
predicted again. A worker that dies later, while the medians and top lists are being computed,
makes the command fail with a message (its answers would be partial); nothing is recorded.

The made-or-suggested formulas and the best measured value are read before screening (outside
the write lock, as the local path screens); a round recorded by someone else in between can
make the recorded batch differ from a local run started after it, as with the local path.

Supported acquisition kinds: those scoring each candidate alone (ucb, logei, pi, greedy,
explore). thompson, pareto and random need the whole space at once and run with
``--executor local``.

Supported posteriors: all of the local round's (raw or calibrated ensemble, pending samples,
P(feasible)); :func:`screen_for_round` fits them with the round's settings, and
``suggest(scored=)`` refuses a screen ranked with another calibration or feasibility setting.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drxlab.acquisition.feasibility import Moments, weight_scores
from drxlab.acquisition.posterior import Applied, FeasibilityMap, PosteriorTransform
from drxlab.acquisition.select import score_block
from drxlab.candidates.generator import iter_candidates
from drxlab.candidates.spec import CampaignSpec
from drxlab.chem.compositions import format_formula
from drxlab.exceptions import CampaignError
from drxlab.executors import Executor, ExecutorError, ray_session, worker_count
from drxlab.model.ensemble import Ensemble
from drxlab.threads import apply_threads
from drxlab.vocabulary import AcquisitionKind
from drxlab.workflow.posterior import Fitted, Rows
from drxlab.workflow.screening import Screen, objective_values
from drxlab.workflow.suggest import BLOCKWISE

BLOCK = 20_000  # candidates per block: screen()'s default chunk, so model batches are identical
SUPPORTED = BLOCKWISE
FIRST_K = 16  # rows per worker on the first request, on top of 4 x batch


@dataclass(frozen=True)
class Acquisition:
    """What the workers score with (the round's resolved ``[acquisition]`` settings)."""

    kind: str
    batch: int
    kappa: float
    xi: float
    min_distance: float
    best_f: float | None  # None: the median of the primary mean over the space (needs_best kinds)


@dataclass(frozen=True)
class TopScreen(Screen):
    """The merged top rows of a distributed screen, in candidate-index order.

    ``X``, ``Y`` and ``species_amounts`` hold only these rows; ``size`` is the whole space and the
    two medians were computed over the whole space.
    """

    index: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    n_total: int = 0
    mean_median: float = float("nan")
    sigma_med: float = float("nan")
    workers: int = 0  # Ray workers that screened
    fitted: Fitted | None = None  # the posterior transform the workers applied (None: raw ensemble)
    applied: Applied | None = None  # these rows' transformed posterior, as the workers computed it
    scores: np.ndarray | None = None  # these rows' acquisition values as the workers ranked them

    @property
    def size(self) -> int:
        return self.n_total

    def primary_median(self) -> float:
        return self.mean_median

    def sigma_median(self) -> float:
        return self.sigma_med


class _Worker:
    """One Ray actor: the ensemble, the spec's generator and the predictions of its blocks."""

    def __init__(
        self,
        spec: CampaignSpec,
        taken: frozenset[str],
        threads: int,
        block: int = BLOCK,
        crash_marker: str | None = None,
        wanted: frozenset[str] = frozenset(),
    ) -> None:
        apply_threads(threads)
        self.ensemble: Ensemble | None = None  # loaded on the first block (see screen)
        self.spec, self.taken, self.size = spec, taken, block
        self.crash_marker = crash_marker
        self.wanted = wanted  # formulas whose rows the posterior's fits read (measured, pending)
        self.blocks: dict[int, dict] = {}
        self._gen = None
        self._next = 0  # index of the block self._gen yields next
        self._sorted: dict[str, np.ndarray] = {}

    def _block(self, b: int):
        if self._gen is None or b < self._next:
            self._gen, self._next = iter_candidates(self.spec, chunk=self.size), 0
        for block in self._gen:
            self._next += 1
            if self._next - 1 == b:
                return block
        return None

    def screen(self, b: int, limit: int | None, weights: list) -> int:
        """Predict block ``b`` (kept here); returns its candidates (0 past the end of the space).

        ``weights``: ``[ObjectRef]`` of the ensemble, fetched once per worker process (inside a
        list, so Ray does not fetch it for every call; a restarted worker fetches it again).
        """
        if self.ensemble is None:
            import ray

            self.ensemble = ray.get(weights[0])
        if b in self.blocks:
            return len(self.blocks[b]["eligible"])
        start = b * self.size
        if limit is not None and start >= limit:
            return 0
        block = self._block(b)
        if block is None:
            return 0
        if self.crash_marker and not Path(self.crash_marker).exists():
            Path(self.crash_marker).write_text("crashed once")  # tests: die mid-task, once
            os._exit(1)
        n = len(block) if limit is None else min(len(block), limit - start)
        amounts = block.amounts[:n]
        elements = block.elements
        comps = [{el: a for el, a in zip(elements, row) if a > 0} for row in amounts.tolist()]
        Y = np.stack([objective_values(self.ensemble, comps, o) for o in self.spec.objectives], axis=-1)
        formulas = [format_formula(dict(zip(elements, row))) for row in amounts.tolist()]
        small = np.int8 if round(2 / block.step) <= 127 else np.int16  # grid units fit
        want = np.array([j for j, f in enumerate(formulas) if f in self.wanted], dtype=np.int64)
        self.blocks[b] = {
            "Y": Y,
            "units": block.units[:n].astype(small),
            "species": block.species_units[:n].astype(small),
            "step": block.step,
            "eligible": np.fromiter((f not in self.taken for f in formulas), bool, n),
            "elements": elements,
            "species_labels": block.species,
            "n_grid": round(2 / block.step),
            "wanted": {
                "index": start + want,
                "formulas": [formulas[j] for j in want],
                "X": amounts[want],
                "Y": Y[:, want],
                "species": block.species_units[want] * block.step,
            },
        }
        self._sorted.clear()
        return n

    def held(self) -> list[int]:
        return sorted(self.blocks)

    def pid(self) -> int:
        return os.getpid()

    def count_le(self, which: str, x: float) -> int:
        """How many of this worker's candidates have a primary mean / σ ≤ ``x``."""
        if which not in self._sorted:
            ys = [d["Y"][..., 0] for d in self.blocks.values()]
            parts = [y.mean(0) if which == "mean" else y.std(0) for y in ys]
            self._sorted[which] = np.sort(np.concatenate(parts)) if parts else np.zeros(0)
        return int(np.searchsorted(self._sorted[which], x, side="right"))

    def rows(self) -> dict | None:
        """The held rows the posterior's fits read, with the element and species labels."""
        if not self.blocks:
            return None
        parts = [d["wanted"] for d in self.blocks.values()]
        first = next(iter(self.blocks.values()))
        return {
            "elements": first["elements"],
            "species": first["species_labels"],
            "index": np.concatenate([p["index"] for p in parts]),
            "formulas": [f for p in parts for f in p["formulas"]],
            "X": np.concatenate([p["X"] for p in parts]),
            "Y": np.concatenate([p["Y"] for p in parts], axis=1),
            "species_amounts": np.concatenate([p["species"] for p in parts]),
        }

    def moments(self, columns: FeasibilityMap) -> dict[int, Moments]:
        """Feature moments of each held block in ``columns`` (the feasibility model's
        standardisation over the space; the local round sums the same blocks)."""
        return {b: columns.moments(self._amounts(d), self._species(d)) for b, d in self.blocks.items()}

    def score(self, acq: Acquisition, transform: PosteriorTransform) -> tuple[int, float]:
        """Apply the round's posterior transform to every held block (the local round's function,
        on the same blocks) and score it; returns the number of eligible candidates and their
        lowest score (``inf`` when none)."""
        lowest = np.inf
        for d in self.blocks.values():
            Y = d["Y"]
            if transform.moves_members or transform.feasibility is not None:
                applied = transform.apply(self._amounts(d), Y, self._species(d))
                d["rank"] = None if applied.rank is Y else applied.rank
                d["post"] = None if applied.posterior is Y else applied.posterior
                d["p"] = applied.p_feasible
                d["ok"] = d["eligible"] & ~applied.near_pending
            else:
                d["rank"] = d["post"] = d["p"] = None
                d["ok"] = d["eligible"]
            rank = Y if d["rank"] is None else d["rank"]
            d["acq"] = score_block(rank, d["ok"], acq.kind, acq.kappa, acq.best_f, acq.xi)
            finite = d["acq"][np.isfinite(d["acq"])]
            if len(finite):
                lowest = min(lowest, float(finite.min()))
        return int(sum(d["ok"].sum() for d in self.blocks.values())), lowest

    def weight(self, kind: str, floor: float) -> None:
        """Weight the scores by P(feasible) with the whole space's lowest eligible score."""
        for d in self.blocks.values():
            d["acq"] = weight_scores(d["acq"], d["p"], kind, floor)

    @staticmethod
    def _amounts(d: dict) -> np.ndarray:
        # the generator's own arithmetic ((units * 2) / n), so the bits equal its amounts
        return d["units"].astype(np.int32) * 2 / d["n_grid"]

    @staticmethod
    def _species(d: dict) -> np.ndarray:
        return d["species"].astype(np.int32) * d["step"]

    def top(self, k: int) -> dict:
        """The ``k`` best eligible candidates (score desc, index asc) with what the round records:
        raw predictions ``Y``, the posterior ranked by, the one recorded and P(feasible)."""
        keys, idx, where = [], [], []
        for b, d in self.blocks.items():
            ok = np.flatnonzero(d["ok"])
            keys.append(d["acq"][ok])
            idx.append(b * self.size + ok)
            where.append(np.stack([np.full(len(ok), b), ok], axis=1))
        if not keys:
            return {"index": np.zeros(0, np.int64), "acq": np.zeros(0), "more": False}
        acq, index, loc = np.concatenate(keys), np.concatenate(idx), np.concatenate(where)
        order = np.lexsort((index, -acq))[:k]
        rows = [self.blocks[int(b)] for b, _ in loc[order]]
        pos = loc[order, 1]
        any_block = next(iter(self.blocks.values()))

        def pick(key: str) -> np.ndarray:
            got = [(r["Y"] if r[key] is None else r[key])[:, j] for r, j in zip(rows, pos)]
            if not got:
                return np.zeros((any_block["Y"].shape[0], 0, any_block["Y"].shape[2]))
            return np.stack(got, axis=1)

        return {
            "index": index[order],
            "acq": acq[order],
            "more": len(acq) > k,
            "Y": pick("Y"),
            "rank": pick("rank"),
            "post": pick("post"),
            "p": None if any_block["p"] is None else np.array([r["p"][j] for r, j in zip(rows, pos)]),
            "X": np.array([r["units"][j].astype(np.int32) * 2 / r["n_grid"] for r, j in zip(rows, pos)]),
            "species": np.array([r["species"][j].astype(np.int32) * r["step"] for r, j in zip(rows, pos)]),
            "elements": any_block["elements"],
            "species_labels": any_block["species_labels"],
        }


def _order_key(x: float) -> int:
    """float64 -> unsigned int with the same order (negative values flipped)."""
    (u,) = struct.unpack("<Q", struct.pack("<d", x))
    return u ^ 0xFFFFFFFFFFFFFFFF if u >> 63 else u | (1 << 63)


def _from_key(u: int) -> float:
    u = u ^ (1 << 63) if u >> 63 else u ^ 0xFFFFFFFFFFFFFFFF
    return struct.unpack("<d", struct.pack("<Q", u))[0]


def _kth(ray, workers: list, which: str, k: int) -> float:
    """The ``k``-th smallest (0-based) value over all workers, exactly: the smallest x with
    ``#(v ≤ x) ≥ k + 1``, found by bisection over the 64-bit order of float64."""
    lo, hi = 0, (1 << 64) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(ray.get([w.count_le.remote(which, _from_key(mid)) for w in workers])) >= k + 1:
            hi = mid
        else:
            lo = mid + 1
    return _from_key(lo)


def _median(ray, workers: list, which: str, n: int) -> float:
    """``np.median`` over all workers' values (the mean of the two middle ones for even ``n``)."""
    if n % 2:
        return float(_kth(ray, workers, which, n // 2))
    middle = [_kth(ray, workers, which, n // 2 - 1), _kth(ray, workers, which, n // 2)]
    return float(np.mean(np.array(middle)))


def _walk(acq: np.ndarray, index: np.ndarray, X: np.ndarray, batch: int, min_distance: float) -> int:
    """The local greedy walk over rows in (acq desc, index asc) order; returns the position
    (in that order) of the last pick, or -1 when the rows run out before the batch is full."""
    order = np.lexsort((index, -acq))
    eligible = np.ones(len(order), bool)
    picks = 0
    for pos, i in enumerate(order):
        if not eligible[i]:
            continue
        picks += 1
        if picks == batch:
            return pos
        eligible &= np.abs(X - X[i]).sum(axis=1) >= min_distance
    return -1


def _merge(ray, workers: list, acq: Acquisition) -> list[dict]:
    """Top lists from every worker, grown until the walk's prefix is complete (see the module)."""
    k = [4 * acq.batch + FIRST_K] * len(workers)
    lists: list[dict | None] = [None] * len(workers)
    while True:
        stale = [i for i, lst in enumerate(lists) if lst is None]
        for i, got in zip(stale, ray.get([workers[i].top.remote(k[i]) for i in stale])):
            lists[i] = got
        parts = [lst for lst in lists if len(lst["index"])]
        a = np.concatenate([p["acq"] for p in parts])
        idx = np.concatenate([p["index"] for p in parts])
        X = np.concatenate([p["X"] for p in parts])
        pos = _walk(a, idx, X, acq.batch, acq.min_distance)
        order = np.lexsort((idx, -a))
        grow = []
        for i, lst in enumerate(lists):
            if not lst["more"]:
                continue
            if pos < 0:
                grow.append(i)
                continue
            last = (-lst["acq"][-1], lst["index"][-1])
            at_p = (-a[order[pos]], idx[order[pos]])
            if last < at_p:  # this worker's unsent rows could come before position p
                grow.append(i)
        if not grow:
            return parts
        for i in grow:
            k[i] *= 4
            lists[i] = None


def ray_screen(
    spec: CampaignSpec,
    ensemble: Ensemble,
    executor: Executor,
    acq: Acquisition,
    *,
    taken: frozenset[str] = frozenset(),
    threads: int = 1,
    limit: int | None = None,
    block: int = BLOCK,
    on_chunk: Callable[[int], None] | None = None,
    crash_marker: str | None = None,
    wanted: frozenset[str] = frozenset(),
    fit: Callable[[Rows, float, Callable[[FeasibilityMap], Moments]], Fitted] | None = None,
) -> TopScreen:
    """Screen ``spec``'s space (its first ``limit`` candidates) on Ray; the top rows for ``acq``.

    ``taken``: formulas already made or suggested (never returned). ``threads``: torch threads
    per worker (a private Ray instance gets as many CPUs as :func:`drxlab.threads.decide` allows).
    ``block``: candidates per block (screen()'s chunk: the same value gives bit-identical
    predictions). ``crash_marker``: tests only; a worker dies once mid-block unless this file exists.
    ``fit``: fits the round's posterior transform from the screened ``wanted`` rows and the
    absolute median of the primary mean (``None``: the raw ensemble).
    """
    if acq.kind not in SUPPORTED:
        raise ExecutorError(
            f"acquisition kind {acq.kind!r} ranks the whole space at once and runs only on the local "
            f"executor; on Ray use one of {', '.join(SUPPORTED)}",
            option="executor",
            option_use="local",
        )
    with ray_session(executor, num_cpus=None if executor.address else _cpus()) as ray:
        n_workers = worker_count(ray)
        actor = ray.remote(max_restarts=2, max_task_retries=2, num_cpus=1)(_Worker)
        ens_ref = ray.put(ensemble)
        args = (spec, taken, threads, block, crash_marker, wanted)
        workers = [actor.remote(*args) for _ in range(n_workers)]
        assigned: dict[int, list[int]] = {a: [] for a in range(n_workers)}
        n_total = 0
        for r in itertools.count():
            ids = [r * n_workers + a for a in range(n_workers)]
            got = ray.get([w.screen.remote(b, limit, [ens_ref]) for w, b in zip(workers, ids)])
            for a, (b, n) in enumerate(zip(ids, got)):
                if n:
                    assigned[a].append(b)
            n_total += sum(got)
            if on_chunk:
                on_chunk(sum(got))
            if min(got) < block:
                break
        # a worker restarted after a crash has lost its blocks: predict them again
        for a, held in enumerate(ray.get([w.held.remote() for w in workers])):
            for b in sorted(set(assigned[a]) - set(held)):
                ray.get(workers[a].screen.remote(b, limit, [ens_ref]))
        if n_total == 0:
            raise CampaignError(f"campaign {spec.name!r} has no candidates")
        pids = ray.get([w.pid.remote() for w in workers])
        sigma_median = _median(ray, workers, "sigma", n_total)
        mean_median = float("nan")
        needs_median = acq.best_f is None and AcquisitionKind(acq.kind).needs_best
        if needs_median or fit is not None:
            mean_median = _median(ray, workers, "mean", n_total)
        if needs_median:
            acq = dataclasses.replace(acq, best_f=mean_median)

        def space(columns: FeasibilityMap) -> Moments:
            held: dict[int, Moments] = {}
            for got in ray.get([w.moments.remote(columns) for w in workers]):
                held.update(got)
            return Moments.combine(held[b] for b in sorted(held))  # the local round's order

        fitted = (
            None
            if fit is None
            else fit(_rows(ray.get([w.rows.remote() for w in workers])), abs(mean_median) or 1.0, space)
        )
        transform = PosteriorTransform() if fitted is None else fitted.transform
        counts = ray.get([w.score.remote(acq, transform) for w in workers])
        n_eligible = sum(n for n, _ in counts)
        if n_eligible == 0:
            raise CampaignError(
                f"every one of the {n_total} candidates of campaign {spec.name!r} is already "
                "made or suggested; widen the space in the campaign file"
            )
        floor = None
        if transform.feasibility is not None:
            # weight_scores' floor is the lowest eligible score of the whole space: the min of mins
            floor = min(low for _, low in counts)
            ray.get([w.weight.remote(acq.kind, floor) for w in workers])
        parts = _merge(ray, workers, acq)
        if ray.get([w.pid.remote() for w in workers]) != pids:
            # a worker restarted after screening lost its blocks: its counts and lists were partial
            raise ExecutorError(
                "a Ray worker died while the candidates were being ranked; nothing was recorded, "
                "run the command again"
            )
        for w in workers:
            ray.kill(w)
    index = np.concatenate([p["index"] for p in parts])
    order = np.argsort(index, kind="stable")

    def joined(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts], axis=1)[:, order]

    p_rows = None if parts[0]["p"] is None else np.concatenate([p["p"] for p in parts])[order]
    return TopScreen(
        elements=parts[0]["elements"],
        X=np.concatenate([p["X"] for p in parts])[order],
        Y=joined("Y"),
        species=parts[0]["species_labels"],
        species_amounts=np.concatenate([p["species"] for p in parts])[order],
        chunk=block,
        index=index[order],
        n_total=n_total,
        mean_median=mean_median,
        sigma_med=sigma_median,
        workers=n_workers,
        fitted=fitted,
        applied=Applied(joined("rank"), joined("post"), p_rows, np.zeros(len(index), bool)),
        scores=np.concatenate([p["acq"] for p in parts])[order],
    )


def _rows(got: list[dict | None]) -> Rows:
    """The workers' wanted rows as one :class:`Rows`, in candidate order."""
    parts = [g for g in got if g is not None]
    order = np.argsort(np.concatenate([p["index"] for p in parts]), kind="stable")
    formulas = [f for p in parts for f in p["formulas"]]
    return Rows(
        tuple(formulas[i] for i in order),
        np.concatenate([p["X"] for p in parts])[order],
        np.ascontiguousarray(np.concatenate([p["Y"] for p in parts], axis=1)[:, order]),
        np.concatenate([p["species_amounts"] for p in parts])[order],
        tuple(parts[0]["elements"]),
        tuple(parts[0]["species"]),
    )


def _cpus() -> int:
    from drxlab.threads import decide, requested_threads

    return decide(requested_threads()).threads


def screen_for_round(
    session,
    spec: CampaignSpec,
    ensemble: Ensemble,
    executor: Executor,
    *,
    n: int | None = None,
    kind: str | None = None,
    kappa: float | None = None,
    min_distance: float | None = None,
    calibration: str | None = None,
    feasibility: bool | None = None,
    **kwargs,
) -> TopScreen:
    """:func:`ray_screen` with the round's settings as :func:`drxlab.workflow.suggest.suggest`
    resolves them (campaign file, overridden by these arguments), the campaign's made or
    suggested formulas and the round's posterior transform (calibration, pending samples,
    P(feasible)) fitted from the store; the result goes to ``suggest(..., scored=)`` with the
    same settings."""
    from drxlab.store import queries
    from drxlab.workflow import posterior
    from drxlab.workflow.suggest import best_measured

    over = {
        "kind": kind,
        "kappa": kappa,
        "batch": n,
        "min_distance": min_distance,
        "calibration": calibration,
    }
    a = dataclasses.replace(spec.acquisition, **{k: v for k, v in over.items() if v is not None})
    ids = queries.campaign_ids(session, spec.name)
    acq = Acquisition(a.kind, a.batch, a.kappa, a.xi, a.min_distance, best_measured(session, ids, spec))
    taken = frozenset(queries.made_or_suggested_formulas(session, ids))

    def fit(rows: Rows, typical: float, space: Callable[[FeasibilityMap], Moments]) -> Fitted:
        return posterior.fit(
            session,
            spec,
            ids,
            rows=rows,
            typical=typical,
            calibration=a.calibration,
            feasibility=a.feasibility if feasibility is None else feasibility,
            min_distance=a.min_distance,
            space=space,
        )

    wanted = posterior.wanted(session, ids, spec)
    return ray_screen(spec, ensemble, executor, acq, taken=taken, wanted=wanted, fit=fit, **kwargs)
