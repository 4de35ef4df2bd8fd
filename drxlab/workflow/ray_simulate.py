"""Simulated campaigns on Ray: the shared work once, then one task per (strategy, seed).

The work every campaign shares is done once and shared through Ray's object store: the
oracle's truth over the whole space (one task), and each seed's starting data and initial
ensemble (one task per seed, in a private SQLite store whose file is the object shared). Each
(strategy, seed) task starts from a copy of its seed's store, runs
:func:`drxlab.workflow.simulate.run_campaign` in it, and returns the run and the store's file;
Ray starts a campaign as soon as its seed's start and the truth are ready. When every task has
succeeded the files are written to ``OUT/campaigns/<campaign>.sqlite`` (each openable with
``--db``) and merged, in the local executor's order, into ``OUT/simulation.sqlite``
(:func:`drxlab.store.merge.merge_stores`: new ids, one row per material and model version),
the store the local executor writes, or into a lab's PostgreSQL store in one transaction
(``db``); when any task or the merge fails nothing is written. A
task whose worker died is run again (``max_retries``) from the same inputs, with the same result.

Semantics: each campaign is isolated: it sees only its own seed's starting data and its own
measurements. The local executor runs every campaign in one store one after the other and keeps
them apart the same way (``data_campaigns`` in suggest, ``campaign_ids`` in fine-tuning), and
trains each seed's initial ensemble once from the same data with the same seed, so the two
executors make the same syntheses (a test compares them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from drxlab.candidates.spec import CampaignSpec, load_spec
from drxlab.exceptions import DrxlabError
from drxlab.executors import Executor, ray_session
from drxlab.lab.oracle import Oracle
from drxlab.lab.synthesis import SynthesisRules
from drxlab.store.db import display_url, resolve_url
from drxlab.store.merge import merge_into_server, merge_stores
from drxlab.workflow.simulate import (
    Run,
    SimulationResult,
    SpaceTruth,
    check_objective,
    check_plan,
    in_store,
    run_campaign,
    run_line,
    say_truth,
    simulation_result,
    space_truth,
    start_seed,
)

MAX_RETRIES = 2


def _one_thread() -> None:
    from drxlab.threads import apply_threads

    apply_threads(1)  # a Ray worker has one CPU; torch would start one thread per core


def truth_task(
    spec: CampaignSpec, oracle: Oracle, synthesis: SynthesisRules | None, plan: tuple
) -> SpaceTruth:
    """The oracle's truth over the space (``plan``: strategies, rounds, batch, seeds to check)."""
    _one_thread()
    return space_truth(spec, oracle, synthesis=synthesis, check=lambda n: check_plan(spec, *plan, n))


def start_task(oracle: Oracle, seed: int, kwargs: dict[str, Any]) -> tuple[int, bytes]:
    """A seed's starting data and initial ensemble in a fresh SQLite store: its version id, the file."""
    _one_thread()
    with tempfile.TemporaryDirectory(prefix="drxlab-start-") as tmp:
        db = Path(tmp) / "start.sqlite"
        version = in_store(db, lambda store: start_seed(store, oracle, seed=seed, **kwargs))
        return version, db.read_bytes()


def campaign_task(
    spec: CampaignSpec,
    oracle: Oracle,
    space: SpaceTruth,
    start: tuple[int, bytes],
    strategy: str,
    seed: int,
    kwargs: dict[str, Any],
) -> tuple[Run, bytes]:
    """One (strategy, seed) campaign on a copy of its seed's start store; the run and the store's file."""
    _one_thread()
    version, start_db = start
    with tempfile.TemporaryDirectory(prefix="drxlab-sim-") as tmp:
        db = Path(tmp) / "campaign.sqlite"
        db.write_bytes(start_db)
        run = in_store(
            db,
            lambda store: run_campaign(store, spec, oracle, space, strategy, seed, version, **kwargs),
            create=False,
        )
        return run, db.read_bytes()


def simulate_on_ray(
    executor: Executor,
    out: Path,
    spec_path: Path,
    oracle: Oracle,
    *,
    strategies: Sequence[str],
    seeds: Sequence[int],
    rounds: int,
    batch: int,
    start_from: str = "2TM",
    n_start: int = 20,
    start_epochs: int = 15,
    synthesis: SynthesisRules | None = None,
    feasibility: bool = True,
    db: str | None = None,
    say: Callable[[str], None] = lambda s: None,
    **kwargs: Any,
) -> SimulationResult:
    """Every strategy × seed campaign as a Ray task; the combined result (runs in the local
    executor's order: by seed, then strategy). ``kwargs``: the rest of :func:`run_campaign`'s plan
    (``finetune_epochs``, ``kappa``, ``calibration``).

    ``db``: a lab's PostgreSQL store (URL) the campaigns are merged into instead of
    ``OUT/simulation.sqlite`` (:func:`drxlab.store.merge.merge_into_server`, one transaction)."""
    spec = load_spec(spec_path)
    check_objective(spec)
    check_plan(spec, strategies, rounds, batch, len(seeds), 10**12)  # the space's size: in the truth task
    from drxlab.threads import decide, requested_threads

    cpus = None if executor.address else decide(requested_threads()).threads
    plan = [(strat, seed) for seed in seeds for strat in strategies]
    start_kw = {"start_from": start_from, "n_start": n_start, "epochs": start_epochs, "synthesis": synthesis}
    run_kw = {"rounds": rounds, "batch": batch, "synthesis": synthesis, "feasibility": feasibility, **kwargs}
    with ray_session(executor, num_cpus=cpus) as ray:
        remote = ray.remote(max_retries=MAX_RETRIES, num_cpus=1)
        spec_ref, orc = ray.put(spec), ray.put(oracle)
        space_ref = remote(truth_task).remote(
            spec_ref, orc, synthesis, (strategies, rounds, batch, len(seeds))
        )
        starts = {seed: remote(start_task).remote(orc, seed, start_kw) for seed in seeds}
        task = remote(campaign_task)
        pending = {
            task.remote(spec_ref, orc, space_ref, starts[seed], strat, seed, run_kw): (strat, seed)
            for strat, seed in plan
        }
        done: dict[tuple[str, int], tuple[Run, bytes]] = {}
        try:
            space = _get(ray, space_ref)
            say_truth(space, synthesis, say)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                key = pending.pop(ready[0])
                done[key] = _get(ray, ready[0])
                say(f"{run_line(done[key][0])} ({len(done)}/{len(plan)})")
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
    # all tasks succeeded: write every campaign's store, all or nothing
    target = Path(out) / "campaigns"
    staging = Path(tempfile.mkdtemp(prefix=".campaigns-", dir=out))
    try:
        files = []
        for strat, seed in plan:
            files.append(staging / f"{spec.name}-{strat}-s{seed}.sqlite")
            files[-1].write_bytes(done[(strat, seed)][1])
        if db is None:
            say(f"  merging {len(files)} campaign stores into {Path(out) / 'simulation.sqlite'}")
            merge_stores(files, Path(out) / "simulation.sqlite")
        else:
            say(f"  merging {len(files)} campaign stores into {display_url(resolve_url(db))}")
            merge_into_server(files, db)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    runs = [done[key][0] for key in plan]
    return simulation_result(spec, oracle, space, rounds, batch, runs, feasibility, synthesis)


def _get(ray, ref):
    """``ray.get``, with a task's drxlab error (a bad plan, an oracle that measures nothing) raised
    as itself: its message is the user's, Ray's wrapper adds the worker's traceback."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, DrxlabError):
            raise exc.cause from None
        raise
