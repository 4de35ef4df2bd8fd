"""Training and fine-tuning with --executor ray: one Ray task per member, the same weights as the
local loop; a GPU asked for only where the cluster has one."""

from __future__ import annotations

import pytest
import torch

from drxlab.bench.predict import random_compositions
from drxlab.executors import Executor
from drxlab.model.ensemble import Ensemble
from drxlab.model.io import load_released_ensemble
from drxlab.profiles.records import TestRecord
from drxlab.training.finetune import finetune_ensemble, synthetic_replay
from drxlab.training.ray_members import member_resources
from drxlab.training.trainer import train_ensemble
from tests.conftest import UPSTREAM, require_shared
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


def test_members_finetuned_as_ray_tasks_have_the_local_weights(ray_local, lmto: TestRecord) -> None:
    parent = Ensemble(load_released_ensemble(require_shared(UPSTREAM / "pretrained")).members[:2])
    new = [TestRecord(lmto.formula, lmto.rate, lmto.v_low, lmto.v_high, {1: lmto.profiles[1]})]
    replay = synthetic_replay(parent, random_compositions(2, seed=1))
    kw = {"epochs": 2, "seed": 3}
    local = finetune_ensemble(parent, new, replay, **kw)
    calls: list[dict] = []
    distributed = finetune_ensemble(
        parent, new, replay, **kw, executor=Executor("ray"), progress=calls.append
    )
    for ma, mb, mp in zip(local.members, distributed.members, parent.members):
        assert not torch.equal(ma.material_nn.embedding.weight, mp.material_nn.embedding.weight)  # tuned
        for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
            assert torch.equal(va, vb), k
    assert sorted((d["member"], d["epoch"]) for d in calls) == [(m, e) for m in (1, 2) for e in (1, 2)]


def test_member_tasks_ask_for_a_gpu_only_where_the_cluster_has_one(
    ray_local, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not torch.cuda.is_available()  # this machine: the request must be 0, or tasks never start
    assert member_resources(ray_local) == {"num_cpus": 1, "num_gpus": 0}
    monkeypatch.setattr(ray_local, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 1.0})
    assert member_resources(ray_local) == {"num_cpus": 1, "num_gpus": 1}
