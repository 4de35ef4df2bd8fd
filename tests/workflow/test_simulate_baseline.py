"""The random baseline of the simulation table: exact median draws to hit the top candidates."""

from __future__ import annotations

import numpy as np
import pytest

from drxlab.workflow.simulate import random_median_draws


@pytest.mark.parametrize(
    ("n", "k", "expected"), [(100, 1, 50), (10, 10, 1), (2, 1, 1), (5, 0, float("inf")), (54_297, 543, 69)]
)
def test_known_values(n: int, k: int, expected: float) -> None:
    # (100, 1): the single top item is equally likely at any of 100 positions → median 50;
    # 1 % of 54,297: 1 - 0.99^69 just passes 1/2, as for draws with replacement
    assert random_median_draws(n, k) == expected


@pytest.mark.parametrize(("n", "k"), [(1000, 10), (300, 3), (50, 7)])
def test_matches_shuffled_draws(n: int, k: int) -> None:
    rng = np.random.default_rng(0)
    first = [int(np.flatnonzero(rng.permutation(n) < k)[0]) + 1 for _ in range(20_000)]
    m = random_median_draws(n, k)
    # hypergeometric P(a top item within d draws), exact, against the shuffles at every d ≤ 2m
    hit = np.array(first)
    for d in range(1, int(2 * m) + 1):
        p_none = np.prod([(n - k - j) / (n - j) for j in range(d)])
        assert np.mean(hit <= d) == pytest.approx(1 - p_none, abs=0.015)
    assert abs(np.median(hit) - m) <= 1
