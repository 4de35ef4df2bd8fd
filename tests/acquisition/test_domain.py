"""Applicability domain: nearest known composition and the domain flag."""

from __future__ import annotations

import numpy as np
import pytest

from drxlab.acquisition.domain import (
    EXTRAPOLATING,
    IN_DOMAIN,
    UNCERTAIN,
    domain_flag,
    nearest_known,
    sigma_threshold,
)
from drxlab.exceptions import CampaignError


def test_nearest_known_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    X_sel, known = rng.random((7, 4)), rng.random((50, 4))
    index, distance = nearest_known(X_sel, known)
    full = np.abs(X_sel[:, None] - known[None]).sum(-1)
    np.testing.assert_array_equal(index, full.argmin(1))
    np.testing.assert_allclose(distance, full.min(1))


def test_nearest_known_without_data_is_infinitely_far() -> None:
    index, distance = nearest_known(np.zeros((2, 3)), np.zeros((0, 3)))
    assert index.tolist() == [-1, -1] and np.isinf(distance).all()


def test_nearest_known_rejects_mismatched_features() -> None:
    with pytest.raises(CampaignError, match="known_X"):
        nearest_known(np.zeros((2, 3)), np.zeros((4, 2)))


def test_domain_flags() -> None:
    assert domain_flag(5.0, 0.1, sigma_threshold=10.0) == IN_DOMAIN == "in-domain"
    assert domain_flag(5.0, 0.5, sigma_threshold=10.0) == EXTRAPOLATING == "extrapolating: far from data"
    assert domain_flag(15.0, 0.1, sigma_threshold=10.0) == UNCERTAIN == "uncertain: σ high"
    assert domain_flag(15.0, 0.9, sigma_threshold=10.0) == EXTRAPOLATING
    assert domain_flag(5.0, 0.5, sigma_threshold=10.0, distance_threshold=1.0) == IN_DOMAIN


def test_sigma_threshold_is_factor_times_median() -> None:
    assert sigma_threshold(np.array([1.0, 2.0, 10.0])) == 4.0
    assert sigma_threshold(np.array([1.0, 2.0, 10.0]), factor=3.0) == 6.0
    with pytest.raises(CampaignError, match="empty"):
        sigma_threshold(np.array([]))
