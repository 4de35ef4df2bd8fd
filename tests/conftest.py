"""Shared fixtures: paths to ../shared, a temporary store, a CLI runner."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
UPSTREAM = SHARED / "drxnet-upstream"


def require_shared(path: Path = UPSTREAM) -> Path:
    """Return a path under ../shared; under CI a missing one fails the test, elsewhere skips it."""
    if not path.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} is missing; CI must run with ../shared beside the clone")
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture
def upstream() -> Path:
    """The DRXNet authors' released files (../shared/drxnet-upstream)."""
    return require_shared(UPSTREAM)
