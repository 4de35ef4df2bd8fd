"""``drxlab bench suggest --executor ray``: the Ray screen against the local one in the same run."""

from __future__ import annotations

import resource
import time

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
