"""bench suggest's feasibility figures: both selections timed on the same candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drxlab.bench.feasibility import bench_feasibility
from drxlab.candidates.generator import iter_candidates
from drxlab.candidates.spec import load_spec

CAMPAIGN = Path(__file__).resolve().parents[2] / "campaigns" / "he-drx-1e4.toml"


def test_weighted_picks_are_more_feasible_and_both_are_timed() -> None:
    spec = load_spec(CAMPAIGN)
    blocks = list(iter_candidates(spec))
    X = np.concatenate([b.amounts for b in blocks])
    sp = np.concatenate([b.species_units * b.step for b in blocks])
    Y = np.random.default_rng(0).normal(250, 10, size=(5, len(X), 1))
    res = bench_feasibility(blocks[0].elements, blocks[0].species, X, sp, Y)
    assert res["candidates"] == len(X) and res["labelled"] == 300
    assert res["acquisition_s"] > 0 and res["acquisition_with_feasibility_s"] > res["feasibility_fit_s"] > 0
    assert res["feasibility_over_plain"] == res["acquisition_with_feasibility_s"] / res["acquisition_s"]
    assert res["p_feasible_of_picks_weighted"] > res["p_feasible_of_picks_plain"]
