"""Tests -> training points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drxlab.exceptions import ProfileError
from drxlab.training.dataset import TestRecord, to_points

V = np.linspace(1.5, 4.8, 100)


def _test(formula: str, cycles: dict[int, float], rate: float = 20.0) -> TestRecord:
    return TestRecord(
        formula,
        rate,
        1.5,
        4.8,
        {c: (V, cap * (4.8 - V) / 3.3, np.full(100, -cap / 3.3)) for c, cap in cycles.items()},
    )


def test_points_and_first_cycle_target() -> None:
    pts = to_points(
        [
            _test("Li1.2Mn0.4Ti0.4O2", {1: 250.0, 2: 240.0}),
            _test("Li1.2Mn0.4Ti0.4O2", {3: 200.0}, rate=100.0),
            _test("Li1.2Mn0.8O1.8F0.2", {1: 300.0}),
        ]
    )
    assert pts.n == 400 and len(pts.compositions) == 2
    assert pts.comp.tolist() == [0] * 300 + [1] * 100
    cyc2 = pts.cycle == 2
    assert torch.allclose(pts.q1[cyc2], torch.tensor(250 * (4.8 - V) / 3.3, dtype=torch.float32))
    assert pts.q1_mask[:200].all() and not pts.q1_mask[200:300].any() and pts.q1_mask[300:].all()
    assert pts.rate[200:300].eq(100.0).all()


def test_batch_builds_graph_of_its_compositions_only() -> None:
    pts = to_points(
        [
            _test("Li1.2Mn0.4Ti0.4O2", {1: 250.0}),
            _test("Li1.2Mn0.8O1.8F0.2", {1: 300.0}),
            _test("Li1.1Ni0.45Ti0.45O2", {1: 150.0}),
        ]
    )
    b = pts.batch(torch.tensor([250, 5, 260, 7]))
    assert b.graph.n_graphs == 2 and b.comp.tolist() == [1, 0, 1, 0]
    assert b.window.shape == (4, 2) and b.q.shape == (4,)


def test_bad_profiles() -> None:
    bad = TestRecord("Li1.2Mn0.4Ti0.4O2", 20.0, 1.5, 4.8, {1: (V[::-1], V, V)})
    with pytest.raises(ProfileError, match="ascending"):
        to_points([bad])
    with pytest.raises(ProfileError, match="no discharge profiles"):
        to_points([TestRecord("Li1.2Mn0.4Ti0.4O2", 20.0, 1.5, 4.8, {})])
