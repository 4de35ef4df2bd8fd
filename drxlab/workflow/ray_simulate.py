"""Simulated campaigns on Ray: one task per (strategy, seed), each in a store of its own.

Each task runs :func:`drxlab.workflow.simulate.run_simulation` for its one strategy and seed in a
private SQLite store (the campaign spec travels as text, the oracle through the object store)
and returns the run and the store's file. When every task has succeeded the files are written
to ``OUT/campaigns/<campaign>.sqlite`` (each openable with ``--db``) and merged, in the local
executor's order, into ``OUT/simulation.sqlite`` (:func:`drxlab.store.merge.merge_stores`: new
ids, one row per material and model version), the store the local executor writes; when any
task or the merge fails nothing is written. A task whose worker died is run again from its
seed (``max_retries``), with the same result.

Semantics: each campaign is isolated: it sees only its own seed's starting data and its own
measurements. The local executor runs every campaign in one store one after the other and keeps
them apart the same way (``data_campaigns`` in suggest, ``campaign_ids`` in fine-tuning), so the
two executors make the same syntheses (a test compares them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from drxlab.candidates.spec import load_spec
from drxlab.executors import Executor, ray_session
from drxlab.lab.oracle import Oracle
from drxlab.store.db import open_store
from drxlab.store.merge import merge_stores
from drxlab.workflow.simulate import Run, SimulationResult, run_simulation

MAX_RETRIES = 2


def run_isolated(
    spec_text: str, oracle: Oracle, strategy: str, seed: int, kwargs: dict[str, Any]
) -> tuple[SimulationResult, bytes]:
    """One (strategy, seed) campaign in a fresh SQLite store; the result and the store's bytes."""
    from drxlab.threads import apply_threads

    apply_threads(1)  # a Ray worker has one CPU; torch would start one thread per core
    with tempfile.TemporaryDirectory(prefix="drxlab-sim-") as tmp:
        spec_path = Path(tmp) / "campaign.toml"
        spec_path.write_text(spec_text)
        db = Path(tmp) / "campaign.sqlite"
        store = open_store(db)
        try:
            res = run_simulation(store, spec_path, oracle, strategies=[strategy], seeds=[seed], **kwargs)
        finally:
            store.engine.dispose()
        return res, db.read_bytes()


def simulate_on_ray(
    executor: Executor,
    out: Path,
    spec_path: Path,
    oracle: Oracle,
    *,
    strategies: Sequence[str],
    seeds: Sequence[int],
    say: Callable[[str], None] = lambda s: None,
    **kwargs: Any,
) -> SimulationResult:
    """Every strategy × seed campaign as a Ray task; the combined result (runs in the local
    executor's order: by seed, then strategy). ``kwargs``: :func:`run_simulation`'s plan."""
    spec_text = Path(spec_path).read_text()
    name = load_spec(spec_path).name
    from drxlab.threads import decide, requested_threads

    cpus = None if executor.address else decide(requested_threads()).threads
    plan = [(strat, seed) for seed in seeds for strat in strategies]
    with ray_session(executor, num_cpus=cpus) as ray:
        task = ray.remote(max_retries=MAX_RETRIES, num_cpus=1)(run_isolated)
        orc = ray.put(oracle)
        pending = {task.remote(spec_text, orc, strat, seed, kwargs): (strat, seed) for strat, seed in plan}
        done: dict[tuple[str, int], tuple[SimulationResult, bytes]] = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            key = pending.pop(ready[0])
            done[key] = ray.get(ready[0])
            say(f"  campaign {name}-{key[0]}-s{key[1]} done ({len(done)}/{len(plan)})")
    # all tasks succeeded: write every campaign's store, all or nothing
    target = Path(out) / "campaigns"
    staging = Path(tempfile.mkdtemp(prefix=".campaigns-", dir=out))
    try:
        files = []
        for strat, seed in plan:
            files.append(staging / f"{name}-{strat}-s{seed}.sqlite")
            files[-1].write_bytes(done[(strat, seed)][1])
        say(f"  merging {len(files)} campaign stores into {Path(out) / 'simulation.sqlite'}")
        merge_stores(files, Path(out) / "simulation.sqlite")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    first = done[plan[0]][0]
    runs: list[Run] = [done[key][0].runs[0] for key in plan]
    return SimulationResult(
        first.campaign,
        first.oracle,
        first.candidates,
        first.true_max,
        first.top_threshold,
        first.rounds,
        first.batch,
        runs,
        top_count=first.top_count,
    )
