"""Ensemble members trained as Ray tasks, one task per member.

Members are independent (member ``k`` is seeded with ``seed * 1000 + k`` for initialisation and
shuffling, :func:`drxlab.training.trainer.train_ensemble`), so each runs as one task with the
same arguments as in the local loop and, on CPU, returns bit-identical weights. The training
points travel once through the object store; each task sends back its member and its per-epoch
reports, which the driver replays to ``progress`` as members finish.
"""

from __future__ import annotations

from collections.abc import Mapping
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
        task = ray.remote(max_retries=MAX_RETRIES, num_cpus=1)(_member)
        p_ref, v_ref = ray.put(points), ray.put(val)
        kw = {**kwargs, "members": members}
        pending = {task.remote(k, p_ref, v_ref, threads, kw): k for k in range(members)}
        out: dict[int, DRXNet] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            k = pending.pop(done[0])
            out[k], reports = ray.get(done[0])
            for report in reports if progress is not None else ():
                progress(report)
    return [out[k] for k in range(members)]
