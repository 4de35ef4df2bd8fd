"""Ensemble members trained or fine-tuned as Ray tasks, one task per member.

Members are independent (member ``k`` is seeded with ``seed * 1000 + k`` for initialisation and
shuffling, :func:`drxlab.training.trainer.train_ensemble`), so each runs as one task with the
same arguments as in the local loop and, on CPU, returns bit-identical weights. The training
points travel once through the object store; each task sends back its member and its per-epoch
reports, which the driver replays to ``progress`` as members finish. Fine-tuning
(:func:`drxlab.training.finetune.finetune_member`) is cut the same way: member ``k`` depends only
on its parent and the new and replay points.

GPUs: each task asks Ray for one GPU (``num_gpus=1``) when the cluster has any
(:func:`member_resources`), so members spread one per GPU instead of queueing on one; on a
machine without a GPU the request is 0 and tasks share the CPUs (one CPU each). drxlab's
training loop itself runs on the CPU today, so the reservation matters for the GPU-aware loop
to come and for sharing a cluster with GPU jobs; the same weights as the local path are
guaranteed on CPU only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drxlab.executors import Executor, ray_session
from drxlab.model.drxnet import DRXNet

MAX_RETRIES = 2  # a member whose worker died is trained again from its seed: the same weights


def _member(k: int, points, val, threads: int | None, kwargs: Mapping[str, Any]) -> tuple[DRXNet, list]:
    from drxlab.training.trainer import _train_member, torch_threads

    reports: list[dict] = []
    with torch_threads(threads):
        model = _train_member(k, points, val, progress=reports.append, **kwargs)
    return model, reports


def member_resources(ray) -> dict[str, float]:
    """Ray resources one member's task asks for: one CPU, and one GPU when the cluster has any
    (on a single machine, when ``torch.cuda.is_available()``)."""
    return {"num_cpus": 1, "num_gpus": 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0}


def _finetuned(k: int, parent, new_pts, replay_pts, threads: int | None, kwargs: Mapping[str, Any]):
    from drxlab.training.finetune import finetune_member
    from drxlab.training.trainer import torch_threads

    reports: list[dict] = []
    with torch_threads(threads):
        model = finetune_member(k, parent, new_pts, replay_pts, progress=reports.append, **kwargs)
    return model, reports


def finetune_members_ray(
    executor: Executor,
    parents: Sequence[DRXNet],
    new_pts,
    replay_pts,
    *,
    threads: int | None,
    progress=None,
    **kwargs: Any,
) -> list[DRXNet]:
    """Each of ``parents`` fine-tuned on Ray, in member order (``kwargs``: ``finetune_member``'s)."""
    from drxlab.threads import decide, requested_threads

    cpus = None if executor.address else max(1, min(len(parents), decide(requested_threads()).threads))
    with ray_session(executor, num_cpus=cpus) as ray:
        task = ray.remote(max_retries=MAX_RETRIES, **member_resources(ray))(_finetuned)
        n_ref, r_ref = ray.put(new_pts), ray.put(replay_pts)
        pending = {task.remote(k, p, n_ref, r_ref, threads, kwargs): k for k, p in enumerate(parents)}
        return _collect(ray, pending, progress)


def _collect(ray, pending: dict, progress) -> list:
    """Task results by member index as they finish, their reports replayed to ``progress``."""
    out: dict[int, Any] = {}
    n = len(pending)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        k = pending.pop(done[0])
        out[k], reports = ray.get(done[0])
        for report in reports if progress is not None else ():
            progress(report)
    return [out[k] for k in range(n)]


def train_members_ray(
    executor: Executor,
    points,
    val,
    *,
    members: int,
    threads: int | None,
    progress=None,
    **kwargs: Any,
) -> list[DRXNet]:
    """The ``members`` trained on Ray, in member order (``kwargs``: ``_train_member``'s)."""
    from drxlab.threads import decide, requested_threads

    cpus = None if executor.address else max(1, min(members, decide(requested_threads()).threads))
    with ray_session(executor, num_cpus=cpus) as ray:
        task = ray.remote(max_retries=MAX_RETRIES, **member_resources(ray))(_member)
        p_ref, v_ref = ray.put(points), ray.put(val)
        kw = {**kwargs, "members": members}
        pending = {task.remote(k, p_ref, v_ref, threads, kw): k for k in range(members)}
        return _collect(ray, pending, progress)
