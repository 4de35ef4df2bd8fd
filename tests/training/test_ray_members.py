"""Training with --executor ray: one Ray task per member, the same weights as the local loop."""

from __future__ import annotations

import pytest
import torch

from drxlab.executors import Executor
from drxlab.training.trainer import train_ensemble
from tests.training.conftest import TINY_ARGS
from tests.training.test_trainer import FORMULAS, _test


@pytest.mark.slow  # trains 3 tiny members twice
def test_members_trained_as_ray_tasks_have_the_local_weights(ray_local) -> None:
    data = [_test(f, 200 + 20 * i) for i, f in enumerate(FORMULAS)]
    kw = {"members": 3, "epochs": 2, "batch": 128, "seed": 7, "model_args": TINY_ARGS}
    calls: list[dict] = []
    local = train_ensemble(data, **kw)
    distributed = train_ensemble(data, **kw, executor=Executor("ray"), progress=calls.append)
    assert len(distributed.members) == 3
    for ma, mb in zip(local.members, distributed.members):
        for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
            assert torch.equal(va, vb), k
    # every member's epochs reach the progress bar, member by member as they finish
    assert sorted((d["member"], d["epoch"]) for d in calls) == [(m, e) for m in (1, 2, 3) for e in (1, 2)]
