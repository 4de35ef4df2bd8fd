"""Fine-tuning the released ensemble on a few new profiles."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from drxlab.bench.predict import random_compositions
from drxlab.model.drxnet import batchnorm_layers
from drxlab.model.ensemble import Ensemble
from drxlab.model.io import ensemble_hash, load_released_ensemble
from drxlab.profiles.records import TestRecord
from drxlab.training.finetune import finetune_ensemble, synthetic_replay
from tests.conftest import UPSTREAM, require_shared

HE1 = "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2"


@pytest.fixture(scope="module")
def released() -> Ensemble:
    return load_released_ensemble(require_shared(UPSTREAM / "pretrained"))


@pytest.fixture(scope="module")
def replay(released: Ensemble) -> list[TestRecord]:
    return synthetic_replay(released, random_compositions(8, seed=1))


def _capacities(ens: Ensemble, t: TestRecord) -> np.ndarray:
    cycles = np.arange(1, 11)
    return ens.predict_capacity([t.formula] * 10, t.rate, t.v_low, t.v_high, cycles).mean(0)


def test_original_untouched_and_batchnorm_frozen(
    released: Ensemble, lmto: TestRecord, replay: list[TestRecord]
) -> None:
    before = ensemble_hash(released)
    new = [TestRecord(lmto.formula, lmto.rate, lmto.v_low, lmto.v_high, {1: lmto.profiles[1]})]
    calls: list[dict] = []
    tuned = finetune_ensemble(released, new, replay[:4], epochs=2, seed=0, progress=calls.append)
    assert ensemble_hash(released) == before
    assert tuned is not released and len(tuned) == 5
    assert all(not m.training for m in tuned.members)
    for parent, child in zip(released.members, tuned.members):
        for bp, bc in zip(batchnorm_layers(parent), batchnorm_layers(child)):
            assert torch.equal(bp.running_mean, bc.running_mean) and torch.equal(bp.weight, bc.weight)
            assert torch.equal(bp.num_batches_tracked, bc.num_batches_tracked)
        assert torch.equal(parent.fc.fc.weight, child.fc.fc.weight)  # only the encoder is tuned
        assert not torch.equal(parent.material_nn.embedding.weight, child.material_nn.embedding.weight)
        assert all(p.requires_grad for p in child.parameters())
    assert len(calls) == 10 and calls[-1]["total"] == 10


@pytest.mark.slow
def test_first_cycle_finetune_fixes_lmto(
    released: Ensemble, lmto: TestRecord, replay: list[TestRecord]
) -> None:
    measured = np.array([lmto.profiles[c][1][0] for c in range(1, 11)])
    before = _capacities(released, lmto)
    he1_before = released.predict_capacity([HE1], 20, 1.5, 4.8, 1).mean()
    new = [TestRecord(lmto.formula, lmto.rate, lmto.v_low, lmto.v_high, {1: lmto.profiles[1]})]
    t0 = time.perf_counter()
    tuned = finetune_ensemble(released, new, replay, seed=0)
    elapsed = time.perf_counter() - t0
    after = _capacities(tuned, lmto)
    he1_after = tuned.predict_capacity([HE1], 20, 1.5, 4.8, 1).mean()
    mae_before, mae_after = (np.abs(x - measured)[1:].mean() for x in (before, after))
    print(
        f"\nLMTO measured  {np.round(measured, 1)}\n      before   {np.round(before, 1)}"
        f"\n      after    {np.round(after, 1)}"
        f"\ncycles 1-10 MAE before {np.abs(before - measured).mean():.1f}; "
        f"cycles 2-10 MAE {mae_before:.1f} -> {mae_after:.1f} mAh/g "
        f"({100 * (1 - mae_after / mae_before):.0f} % cut); HE-1 {he1_before:.1f} -> {he1_after:.1f}; "
        f"{elapsed:.1f} s"
    )
    assert 20 < np.abs(before - measured).mean() < 26
    assert mae_after <= 0.65 * mae_before
    assert abs(he1_after - he1_before) <= 8.0


@pytest.mark.slow
def test_eight_profiles_within_a_minute(
    released: Ensemble, lmto: TestRecord, replay: list[TestRecord]
) -> None:
    new = [
        TestRecord(lmto.formula, lmto.rate, lmto.v_low, lmto.v_high, {c: lmto.profiles[c]})
        for c in range(1, 9)
    ]
    t0 = time.perf_counter()
    finetune_ensemble(released, new, replay, seed=0)
    elapsed = time.perf_counter() - t0
    print(f"\nfine-tuned 5 members on 8 profiles + replay in {elapsed:.1f} s")
    assert elapsed <= 60.0


def test_replay_targets_and_validation(
    released: Ensemble, lmto: TestRecord, replay: list[TestRecord]
) -> None:
    from drxlab.exceptions import DrxlabError
    from drxlab.training.dataset import to_points
    from drxlab.training.finetune import parent_targets

    pts = to_points(replay[:2])
    anchored = parent_targets(released.members[0], pts)
    q, dq = Ensemble([released.members[0]]).predict_points(
        [pts.compositions[i] for i in pts.comp.tolist()],
        rate=pts.rate.numpy(),
        cycle=pts.cycle.numpy(),
        v_low=pts.v_low.numpy(),
        v_high=pts.v_high.numpy(),
        voltage=pts.voltage.numpy(),
        dqdv=True,
    )
    assert np.allclose(anchored.q.numpy(), q[0], atol=1e-3)
    assert np.allclose(anchored.dqdv.numpy(), dq[0], atol=1e-3)
    new = [TestRecord(lmto.formula, lmto.rate, lmto.v_low, lmto.v_high, {1: lmto.profiles[1]})]
    with pytest.raises(DrxlabError, match="replay_targets='bogus'"):
        finetune_ensemble(released, new, replay, epochs=1, replay_targets="bogus")  # type: ignore[arg-type]
    with pytest.raises(DrxlabError, match="no new tests"):
        finetune_ensemble(released, [], replay, epochs=1)
    tuned = finetune_ensemble(released, new, replay[:2], epochs=1, replay_targets="data", trainable=None)
    assert not torch.equal(tuned.members[0].fc.fc.weight, released.members[0].fc.fc.weight)


def test_l2sp_anchors_the_weights_to_the_parent(
    released: Ensemble, lmto: TestRecord, replay: list[TestRecord]
) -> None:
    from drxlab.exceptions import TrainingError

    new = [TestRecord(lmto.formula, lmto.rate, lmto.v_low, lmto.v_high, {1: lmto.profiles[1]})]

    def moved(l2sp: float) -> float:
        tuned = finetune_ensemble(released, new, replay[:2], epochs=2, seed=0, l2sp=l2sp)
        parent, child = released.members[0].material_nn, tuned.members[0].material_nn
        pairs = zip(parent.parameters(), child.parameters())
        return sum(float(((a.detach() - b.detach()) ** 2).sum()) for a, b in pairs)

    free, anchored = moved(0.0), moved(1e5)
    assert anchored < 0.2 * free, (anchored, free)
    with pytest.raises(TrainingError, match="l2sp=-1"):
        finetune_ensemble(released, new, replay[:2], epochs=1, l2sp=-1.0)
