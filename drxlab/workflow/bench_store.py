"""Store speed on each backend, in one run: importing 1,000 DRX-TD tests and a suggest round.

The same work runs on every store given (e.g. a temporary SQLite file and a PostgreSQL
database): the same files, the same small seeded ensemble, the same ≥ 10⁵-candidate campaign.
Per store it times the import (reading the files, then the one write transaction) and `suggest`
(screening without the write lock, then recording the round), as the CLI does them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from drxlab.exceptions import StoreError
from drxlab.store.db import open_store

# charge-balanced Li-Mn-Ti/Nb-O(-F) compositions (amounts per rocksalt formula unit)
COMPOSITIONS = (
    {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0},
    {"Li": 1.2, "Mn": 0.6, "Nb": 0.2, "O": 2.0},
    {"Li": 1.1, "Mn": 0.7, "Ti": 0.2, "O": 1.9, "F": 0.1},
    {"Li": 1.2, "Mn": 0.5, "Ti": 0.3, "O": 2.0},
    {"Li": 1.15, "Mn": 0.65, "Ti": 0.2, "O": 1.95, "F": 0.05},
)


def drx_td_files(folder: Path, n: int, cycles: int = 3) -> list[Path]:
    """``n`` distinct DRX-TD JSON files (``cycles`` standardised discharge profiles each)."""
    folder.mkdir(parents=True, exist_ok=True)
    v = np.linspace(1.5, 4.8, 100)
    out = []
    for i in range(n):
        cap = 180.0 + 0.1 * i  # mAh/g; distinct per file, so every file is a new import
        disc = []
        for c in range(1, cycles + 1):
            q = (cap - 4 * (c - 1)) / (1 + np.exp((v - 3.0) / 0.4))
            q = q - q.min()
            disc.append(
                {
                    "cycle_num": c,
                    "V_std": v.tolist(),
                    "Q_std": q.tolist(),
                    "Q0_std": q.tolist(),
                    "dQdV_std": np.gradient(q, v).tolist(),
                }
            )
        doc = {
            "composition": COMPOSITIONS[i % len(COMPOSITIONS)],
            "test_current(mA/g)": 20.0,
            "low_voltage(V)": 1.5,
            "high_voltage(V)": 4.8,
            "active_mass(g)": 0.002,
            "discharge_list": disc,
        }
        path = folder / f"bench-{i:05d}.json"
        path.write_text(json.dumps(doc))
        out.append(path)
    return out


def widened_campaign(src: Path, target: int, dest: Path) -> tuple[Path, int]:
    """A copy of campaign file ``src`` whose species maxima are raised one species and one step at
    a time until the space holds ≥ ``target`` candidates (so it stays near ``target``); (its
    path, number of candidates)."""
    from drxlab.candidates.generator import iter_candidates
    from drxlab.candidates.spec import load_spec

    def count(text: str) -> int:
        dest.write_text(text)
        return sum(len(b) for b in iter_candidates(load_spec(dest)))

    spec = load_spec(src)
    text = src.read_text().replace(f'name = "{spec.name}"', f'name = "{spec.name}-bench"', 1)
    maxima = {sp.label: sp.max_amount for sp in spec.species}
    n = count(text)
    for k in range(12 * len(maxima)):
        if n >= target:
            break
        label = list(maxima)[k % len(maxima)]
        maxima[label] = round(maxima[label] + spec.step, 10)
        text = re.sub(
            rf'^"{re.escape(label)}"\s*=\s*[0-9.]+', f'"{label}" = {maxima[label]}', text, flags=re.MULTILINE
        )
        n = count(text)
    return dest, n


def clear(url: str) -> None:
    """Delete every row of the store at ``url`` (so a bench round starts from an empty store)."""
    from sqlalchemy import delete

    from drxlab.store.transfer import tables

    store = open_store(url)
    try:
        with store._writer.begin() as conn:
            for table in reversed(tables()):
                if table.name != "meta":
                    conn.execute(delete(table))
    finally:
        store.engine.dispose()


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_store(
    url: str, files: list[Path], campaign: Path, *, members: int = 2, seed: int = 0, batch: int = 8
) -> dict[str, float]:
    """Time import and suggest on the (empty) store at ``url``: seconds per step."""
    import torch

    from drxlab.candidates.spec import load_spec
    from drxlab.model.drxnet import DRXNet
    from drxlab.model.ensemble import Ensemble
    from drxlab.profiles import importers
    from drxlab.store.transfer import is_empty
    from drxlab.workflow import models
    from drxlab.workflow.ingest import import_files
    from drxlab.workflow.screening import screen
    from drxlab.workflow.suggest import suggest
    from drxlab.workflow.training import TINY_MODEL

    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            if not is_empty(conn):
                raise StoreError(f"{store.name} already holds data; bench store needs an empty database")
        torch.manual_seed(seed)
        with store.transaction() as s:
            models.register(s, Ensemble([DRXNet(**TINY_MODEL) for _ in range(members)]), source="trained")
        t_read, (parsed, _bad) = _timed(lambda: importers.read_files(files, "auto"))

        def write_tests() -> object:
            with store.transaction() as s:
                return import_files(s, parsed)

        t_write, summary = _timed(write_tests)

        def screened() -> object:
            with store.reader() as s:
                _v, ensemble = models.current(s)
                return screen(load_spec(campaign), ensemble)

        t_screen, scored = _timed(screened)

        def record() -> object:
            with store.transaction() as s:
                return suggest(s, str(campaign), n=batch, seed=seed, scored=scored)

        t_record, rnd = _timed(record)
    finally:
        store.engine.dispose()
    return {
        "tests": float(summary.tests),
        "candidates": float(rnd.n_candidates),
        "import_read_s": t_read,
        "import_write_s": t_write,
        "import_s": t_read + t_write,
        "suggest_screen_s": t_screen,
        "suggest_record_s": t_record,
        "suggest_s": t_screen + t_record,
    }


def bench_store(
    urls: dict[str, str],
    workdir: Path,
    *,
    n_tests: int = 1000,
    size: int = 100_000,
    campaign: Path = Path("campaigns/he-drx.toml"),
    repeat: int = 2,
) -> dict[str, dict[str, float]]:
    """:func:`run_store` on every store of ``urls`` (label → URL) with the same files and campaign,
    ``repeat`` rounds in alternating order (a busy machine's load drift then hits each store
    alike); the best time of each step."""
    files = drx_td_files(workdir / "tests", n_tests)
    spec, _n = widened_campaign(campaign, size, workdir / "bench-campaign.toml")
    best: dict[str, dict[str, float]] = {}
    for r in range(repeat):
        for label, url in list(urls.items()) if r % 2 == 0 else list(reversed(urls.items())):
            if r:
                clear(url)
            got = run_store(url, files, spec)
            best[label] = {k: min(v, best.get(label, got)[k]) for k, v in got.items()}
    return {label: best[label] for label in urls}
