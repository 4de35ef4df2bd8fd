"""Fixtures for the training tests: the measured LMTO test and a tiny model configuration."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from drxlab.profiles.records import TestRecord
from tests.conftest import UPSTREAM, require_shared

TINY_ARGS = {
    "elem_fea_len": 16,
    "vol_fea_len": 32,
    "rate_fea_len": 8,
    "cycle_fea_len": 8,
    "n_graph": 1,
    "elem_heads": 1,
    "elem_gate": 16,
    "elem_msg": 16,
    "cry_heads": 1,
    "cry_gate": 16,
    "cry_msg": 16,
}


def read_lmto(path: Path) -> TestRecord:
    """The authors' LMTO_example.csv (Li1.2Mn0.4Ti0.4O2, 20 mA/g, 1.5–4.8 V, cycles 1–10) as one test."""
    cols: dict[int, list[tuple[float, float, float]]] = {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        cols.setdefault(int(r["cycle"]), []).append((float(r["Vii"]), float(r["Qii"]), float(r["dQdVii"])))
    profiles = {c: tuple(np.array(x) for x in zip(*sorted(pts))) for c, pts in cols.items()}
    r0 = rows[0]
    return TestRecord(
        formula=r0["composition"].replace(" ", ""),
        rate=float(r0["rate"]),
        v_low=float(r0["V_low"]),
        v_high=float(r0["V_high"]),
        profiles=profiles,
    )


@pytest.fixture(scope="session")
def lmto() -> TestRecord:
    """The measured Li1.2Mn0.4Ti0.4O2 test (10 cycles × 100 points)."""
    return read_lmto(require_shared(UPSTREAM) / "LMTO_example.csv")
