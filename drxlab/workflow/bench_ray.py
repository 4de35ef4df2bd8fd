"""``drxlab bench suggest|simulate --executor ray``: Ray against the local executor in the same run."""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from drxlab.acquisition.select import select_batch
from drxlab.candidates.spec import CampaignSpec
from drxlab.executors import Executor
from drxlab.model.ensemble import Ensemble
from drxlab.workflow.bench import bench_suggest
from drxlab.workflow.ray_screen import Acquisition, ray_screen


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB (Ray's workers are other processes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_suggest_ray(
    ensemble: Ensemble,
    spec: CampaignSpec,
    executor: Executor,
    *,
    limit: int,
    batch: int = 8,
    threads: int = 1,
    baseline: bool = True,
) -> dict:
    """Time one ucb round over the first ``limit`` candidates on Ray, then (``baseline``) the same
    round locally; the driver's peak memory after each phase and the Ray/local time ratio.

    A private Ray instance has one worker per thread of the command (``--threads``), and the
    local round runs with as many torch threads, so the ratio compares equal CPU shares.
    """
    acq = Acquisition("ucb", batch, 2.0, 0.0, 0.1, None)
    rss_start = peak_rss_mib()
    t0 = time.perf_counter()
    top = ray_screen(spec, ensemble, executor, acq, limit=limit, threads=threads)
    X = np.hstack([top.X, np.zeros((len(top.X), 1))])
    sel = select_batch(X, top.Y, kind="ucb", batch=batch, kappa=2.0, min_distance=0.1)
    t_ray = time.perf_counter() - t0
    out = {
        "candidates": top.size,
        "ray_total_s": t_ray,
        "ray_workers": top.workers,
        "ray_candidates_per_s": top.size / t_ray,
        "ray_candidates_per_s_per_worker": top.size / t_ray / top.workers,
        "ray_rows_returned_to_driver": len(top.X),
        "ray_picked": len(sel),
        # the driver never runs the model: its memory is the weights it ships, not the model's speed
        "ensemble_members": len(ensemble),
        "ensemble_weights_MiB": sum(
            p.numel() * p.element_size() for m in ensemble.members for p in m.parameters()
        )
        / 2**20,
        "driver_peak_rss_before_MiB": rss_start,
        "driver_peak_rss_after_ray_MiB": peak_rss_mib(),
    }
    if baseline:
        local = bench_suggest(ensemble, spec, batch=batch, limit=limit)
        out.update(
            local_total_s=local["total_s"],
            local_threads=torch.get_num_threads(),
            local_candidates_per_s=local["candidates_per_s"],
            ray_over_local_time=t_ray / local["total_s"],
            driver_peak_rss_after_local_MiB=peak_rss_mib(),
        )
    return out


def bench_simulate_ray(
    spec_path: Path,
    executor: Executor,
    *,
    strategies: Sequence[str],
    seeds: int,
    rounds: int,
    batch: int,
    start_epochs: int,
    n_start: int = 20,
    synthesis: bool = True,
    workers: int | None = None,
    say: Callable[[str], None] = lambda s: None,
) -> dict:
    """Time the same simulation (synthetic oracle) on the local executor and on Ray in one run:
    seconds each, the Ray/local ratio, and whether both made the same syntheses.

    The local run uses the command's torch threads (``--threads``); a private Ray instance gets
    ``workers`` single-threaded workers (default: one per such thread), started before the clock
    of the Ray run (its start-up is reported apart).
    """
    from drxlab.executors import ray_session
    from drxlab.lab.oracle import synthetic_oracle
    from drxlab.lab.synthesis import SynthesisRules
    from drxlab.store.db import open_store
    from drxlab.threads import decide, requested_threads
    from drxlab.workflow.ray_simulate import simulate_on_ray
    from drxlab.workflow.simulate import run_simulation

    plan = {
        "strategies": list(strategies),
        "seeds": list(range(seeds)),
        "rounds": rounds,
        "batch": batch,
        "n_start": n_start,
        "start_epochs": start_epochs,
        "synthesis": SynthesisRules() if synthesis else None,
    }
    oracle = synthetic_oracle()
    threads = torch.get_num_threads()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="drxlab-bench-sim-") as tmp:
        say(f"local: {len(strategies)} strategies × {seeds} seeds, {rounds} rounds × {batch}")
        store = open_store(Path(tmp) / "local.sqlite")
        t0 = time.perf_counter()
        local = run_simulation(store, spec_path, oracle, say=say, **plan)
        t_local = time.perf_counter() - t0
        store.engine.dispose()
        say(f"local: {t_local:.1f} s; now on {executor.describe()}")
        cpus = None if executor.address else workers or decide(requested_threads()).threads
        t0 = time.perf_counter()
        with ray_session(executor, num_cpus=cpus) as ray:
            t_start = time.perf_counter() - t0
            workers = int(ray.cluster_resources().get("CPU", 1))
            out = Path(tmp) / "ray"
            out.mkdir()
            t1 = time.perf_counter()
            res = simulate_on_ray(executor, out, spec_path, oracle, say=say, **plan)
            t_ray = time.perf_counter() - t1
    return {
        "campaign": local.campaign,
        "candidates": local.candidates,
        "campaigns": len(local.runs),
        "strategies": ",".join(strategies),
        "seeds": seeds,
        "rounds": rounds,
        "batch": batch,
        "start_epochs": start_epochs,
        "load_average_1min_before": load,
        "local_total_s": t_local,
        "local_threads": threads,
        "ray_start_s": t_start,
        "ray_total_s": t_ray,
        "ray_workers": workers,
        "ray_over_local_time": t_ray / t_local,
        "same_syntheses": [r.made for r in res.runs] == [r.made for r in local.runs],
        # none expected: both executors run each campaign alone in a copy of its seed's start
        "campaigns_differing": [a.campaign for a, b in zip(local.runs, res.runs) if a.made != b.made],
        "synthesis_failures": synthesis,
    }
