"""Prediction throughput: screening, full curves, and the reference code's per-point path.

:func:`bench_predict` draws random DRX compositions and times, on the same compositions and in
one run:

- ``screen``: capacity at V_low only (5 members, one condition, no autograd) — candidate
  screening via :meth:`Ensemble.predict_capacity`;
- ``curves``: full 100-point curves with autograd dQ/dV via :meth:`Ensemble.predict_curves`;
- ``per_point``: the reference implementation's structure (the authors' ``ensemble_prediction``)
  — each member run separately, for every voltage point the formula parsed and the composition
  graph rebuilt, the composition encoder run once per point — on a small subset. It runs on
  drxlab's kernels, so it is faster than the reference code itself (3–9 compositions/s on 2
  cores, DRXNET.md); :data:`REFERENCE_PER_S` is that published figure for comparison.

Example::

        stats = bench_predict(load_released_ensemble(path), n_compositions=2000)
        stats["screen_per_s"] > 2000
        # -> True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from drxlab.chem.compositions import amounts as parse_amounts
from drxlab.chem.compositions import format_formula
from drxlab.chem.graph import GraphBatch, build_graph
from drxlab.model.ensemble import Ensemble

METALS = ("Mn", "Cr", "Ti", "Nb", "V", "Fe", "Ni", "Mg", "Co")
REFERENCE_PER_S = (3.0, 9.0)  # the reference code's compositions/s on 2 cores (DRXNET.md)


def random_compositions(n: int, seed: int = 0) -> list[dict[str, float]]:
    """``n`` random DRX amount dicts: Li 1.0–1.3, 2–6 metals from :data:`METALS`, F 0–0.3.

    Amounts are per rocksalt formula unit (cations sum to 2, O + F = 2), rounded to 1e-4.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        li = round(float(rng.uniform(1.0, 1.3)), 4)
        k = int(rng.integers(2, 7))
        metals = rng.choice(METALS, size=k, replace=False)
        frac = np.round(rng.dirichlet(np.ones(k)) * (2.0 - li), 4)
        frac[-1] = round(2.0 - li - float(frac[:-1].sum()), 4)  # cations sum to exactly 2
        amts = {"Li": li, **{str(m): float(a) for m, a in zip(metals, frac)}}
        f = round(float(rng.uniform(0.0, 0.3)), 4)
        amts["O"] = round(2.0 - f, 4)
        if f > 0:
            amts["F"] = f
        out.append(amts)
    return out


def _timed(fn: Callable[[], Any], repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls of ``fn``, s."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _collate(graphs: list[GraphBatch]) -> GraphBatch:
    """Concatenate single-material graphs with index offsets (Roost's ``collate_batch``)."""
    offsets = np.cumsum([0] + [g.n_nodes for g in graphs[:-1]])
    return GraphBatch(
        node_fea=torch.cat([g.node_fea for g in graphs]),
        node_weights=torch.cat([g.node_weights for g in graphs]),
        self_idx=torch.cat([g.self_idx + int(o) for g, o in zip(graphs, offsets)]),
        nbr_idx=torch.cat([g.nbr_idx + int(o) for g, o in zip(graphs, offsets)]),
        node_graph=torch.cat([torch.full((g.n_nodes,), i) for i, g in enumerate(graphs)]),
        n_graphs=len(graphs),
    )


def per_point_curves(
    ensemble: Ensemble,
    comps: list[dict[str, float]],
    rate: float,
    v_low: float,
    v_high: float,
    cycle: float,
    n_points: int = 100,
) -> np.ndarray:
    """Curves computed the way the reference code does it: ``M x n x n_points`` Q, mAh/g.

    As in the authors' ``ensemble_prediction``: for every member, and for every voltage point,
    the formula is parsed and that point's composition graph built; the per-point graphs are
    collated and the member runs on them with pair-list (scatter) message passing, encoding
    the composition once per point; dQ/dV by autograd.
    """
    out = np.empty((len(ensemble), len(comps), n_points))
    grid = np.linspace(v_low, v_high, n_points)
    for c, amts in enumerate(comps):
        formula = format_formula(amts)
        for m, member in enumerate(ensemble.members):
            graph = _collate([build_graph([parse_amounts(formula)]) for _ in range(n_points)])
            v = torch.tensor(grid, dtype=torch.float32).unsqueeze(1).requires_grad_(True)
            q = member(
                graph,
                comp_idx=torch.arange(n_points),
                rate=torch.full((n_points,), float(rate)),
                cycle=torch.full((n_points,), float(cycle)),
                window=torch.tensor([[v_low, v_high]]).expand(n_points, 2),
                voltage=v,
            ).q
            torch.autograd.grad(q.sum(), v)
            out[m, c] = q.detach().numpy()[:, 0]
    return out


def bench_predict(
    ensemble: Ensemble,
    n_compositions: int = 4000,
    seed: int = 0,
    *,
    n_curves: int | None = None,
    n_per_point: int = 3,
    threads: int | None = 2,
    rate: float = 20.0,
    v_low: float = 1.5,
    v_high: float = 4.8,
    cycle: float = 1.0,
) -> dict[str, float]:
    """Throughput of the three prediction paths on the same random compositions.

    Args:
        ensemble: the ensemble to time (e.g. the released 5 members).
        n_compositions: compositions screened for capacity.
        seed: seed of :func:`random_compositions`.
        n_curves: compositions for full curves (default ``n_compositions // 4``, ≥ 1).
        n_per_point: compositions for the per-point (reference-style) path.
        threads: ``torch.set_num_threads`` for the run (restored afterwards); None leaves it.

    Returns:
        compositions/s of ``screen``, ``curves`` and ``per_point`` (keys ``*_per_s``), their
        ratios to the per-point path, and the max |ΔQ| between the curves and per-point paths.
    """
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        comps = random_compositions(n_compositions, seed)
        n_curves = max(1, n_curves if n_curves is not None else n_compositions // 4)
        cond = {"rate": rate, "v_low": v_low, "v_high": v_high, "cycle": cycle}
        ensemble.predict_capacity(comps[:64], **cond)  # warm-up (stacking, allocator)
        t_screen = _timed(lambda: ensemble.predict_capacity(comps, **cond), repeats=2)
        t_curves = _timed(lambda: ensemble.predict_curves(comps[:n_curves], **cond), repeats=2)
        sub = comps[:n_per_point]
        t_point = _timed(lambda: per_point_curves(ensemble, sub, **cond))
        fast = ensemble.predict_curves(sub, **cond).q
        slow = per_point_curves(ensemble, sub, **cond)
        screen, curves, point = n_compositions / t_screen, n_curves / t_curves, n_per_point / t_point
        return {
            "threads": float(torch.get_num_threads()),
            "n_members": float(len(ensemble)),
            "screen_per_s": screen,
            "curves_per_s": curves,
            "per_point_per_s": point,
            "screen_vs_per_point": screen / point,
            "curves_vs_per_point": curves / point,
            "screen_vs_reference_code": screen / max(REFERENCE_PER_S),
            "curves_vs_reference_code": curves / max(REFERENCE_PER_S),
            "max_abs_dq_curves_vs_per_point": float(np.abs(fast - slow).max()),
        }
    finally:
        torch.set_num_threads(old_threads)
