"""The prediction benchmark (smoke test on a tiny ensemble; real figures come from the released one)."""

from __future__ import annotations

import numpy as np
import torch

from drxlab.bench.predict import bench_predict, per_point_curves, random_compositions
from drxlab.chem.compositions import ANIONS, amounts, format_formula
from drxlab.model.ensemble import Ensemble


def test_random_compositions_are_drx() -> None:
    comps = random_compositions(50, seed=2)
    assert comps == random_compositions(50, seed=2)
    for c in comps:
        metals = [el for el in c if el not in ANIONS and el != "Li"]
        assert 2 <= len(metals) <= 6 and 1.0 <= c["Li"] <= 1.3 and c.get("F", 0.0) <= 0.3
        assert abs(sum(a for el, a in c.items() if el not in ANIONS) - 2.0) < 1e-9
        assert amounts(format_formula(c)) == c


def test_per_point_path_equals_batched_path(tiny_ensemble: Ensemble) -> None:
    comps = random_compositions(2, seed=4)
    fast = tiny_ensemble.predict_curves(comps, 50.0, 2.0, 4.5, 3, n_points=20).q
    slow = per_point_curves(tiny_ensemble, comps, 50.0, 2.0, 4.5, 3, n_points=20)
    assert np.allclose(fast, slow, atol=1e-4)


def test_bench_reports_all_paths(tiny_ensemble: Ensemble) -> None:
    threads = torch.get_num_threads()
    stats = bench_predict(tiny_ensemble, n_compositions=64, n_curves=16, n_per_point=1, threads=1)
    assert torch.get_num_threads() == threads
    for key in (
        "screen_per_s",
        "curves_per_s",
        "per_point_per_s",
        "screen_vs_per_point",
        "curves_vs_per_point",
    ):
        assert stats[key] > 0
    assert stats["max_abs_dq_curves_vs_per_point"] < 1e-3
