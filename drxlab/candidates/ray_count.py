"""``candidates --count --executor ray``: the space counted as one Ray task per subtree."""

from __future__ import annotations

from drxlab.candidates.generator import branches, count_branch, count_candidates
from drxlab.candidates.spec import CampaignSpec
from drxlab.executors import Executor, ray_session, worker_count


def _count(spec: CampaignSpec, parts: list[int]) -> int:
    return sum(count_branch(spec, b) for b in parts)


def count_candidates_ray(spec: CampaignSpec, executor: Executor, num_cpus: int | None = None) -> int:
    """Number of candidates: the first metal's amounts (:func:`branches`) counted in parallel.

    The subtrees differ in size, so the speed-up is below the worker count; the local count
    (:func:`count_candidates`) also runs first on an empty space to name the emptying constraint.
    """
    parts = branches(spec)
    if len(parts) < 2:
        return count_candidates(spec)
    with ray_session(executor, num_cpus=num_cpus) as ray:
        task = ray.remote(max_retries=2, num_cpus=1)(_count)
        groups = 4 * worker_count(ray)  # round-robin groups: subtrees of similar amounts differ in size
        n = sum(ray.get([task.remote(spec, parts[g::groups]) for g in range(min(groups, len(parts)))]))
    return n if n else count_candidates(spec)  # an empty space: the local count says why
