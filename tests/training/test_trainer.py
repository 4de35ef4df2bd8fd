"""Training from scratch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drxlab.exceptions import DrxlabError
from drxlab.profiles.records import TestRecord
from drxlab.training.trainer import split_by_composition, train_ensemble
from tests.training.conftest import TINY_ARGS

V = np.linspace(1.5, 4.8, 100)


def _test(formula: str, cap: float = 250.0) -> TestRecord:
    return TestRecord(formula, 20.0, 1.5, 4.8, {1: (V, cap * (4.8 - V) / 3.3, np.full(100, -cap / 3.3))})


FORMULAS = [
    "Li1.2Mn0.4Ti0.4O2",
    "Li1.2Mn0.8O1.8F0.2",
    "Li1.1Ni0.45Ti0.45O2",
    "Li1.2Cr0.4Ti0.4O2",
    "Li1.3Nb0.3Mn0.4O2",
]


def test_split_by_composition_is_disjoint_and_seeded() -> None:
    data = [_test(f) for f in FORMULAS for _ in range(2)]
    train, held = split_by_composition(data, 0.4, seed=3)
    assert len(held) == 4 and len(train) == 6
    assert not {d.formula for d in train} & {d.formula for d in held}
    assert split_by_composition(data, 0.4, seed=3) == (train, held)
    assert split_by_composition(data, 0.0, seed=3) == (data, [])
    with pytest.raises(DrxlabError, match="fraction=1.5"):
        split_by_composition(data, 1.5, seed=0)


def test_reproducible_for_a_seed_and_reports_progress() -> None:
    data = [_test(f, 200 + 20 * i) for i, f in enumerate(FORMULAS)]
    calls: list[dict] = []
    a = train_ensemble(
        data, members=2, epochs=2, batch=128, seed=7, model_args=TINY_ARGS, progress=calls.append
    )
    b = train_ensemble(data, members=2, epochs=2, batch=128, seed=7, model_args=TINY_ARGS)
    c = train_ensemble(data, members=2, epochs=2, batch=128, seed=8, model_args=TINY_ARGS)
    for ma, mb in zip(a.members, b.members):
        for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
            assert torch.equal(va, vb), k
    assert not torch.equal(a.members[0].fc.fc.weight, c.members[0].fc.fc.weight)
    assert not torch.equal(a.members[0].fc.fc.weight, a.members[1].fc.fc.weight)
    assert [(d["member"], d["epoch"]) for d in calls] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(d["total"] == 4 and np.isfinite(d["loss"]) for d in calls)
    assert a.model_args["elem_fea_len"] == TINY_ARGS["elem_fea_len"]


def test_validation_keeps_best_epoch() -> None:
    data = [_test(f, 200 + 20 * i) for i, f in enumerate(FORMULAS[:4])]
    calls: list[dict] = []
    train_ensemble(
        data,
        members=1,
        epochs=3,
        batch=128,
        seed=0,
        model_args=TINY_ARGS,
        progress=calls.append,
        val_data=[_test(FORMULAS[4])],
    )
    assert all("val_mae" in d for d in calls)


def test_rejects_bad_settings() -> None:
    with pytest.raises(DrxlabError, match="members=0"):
        train_ensemble([_test(FORMULAS[0])], members=0)


@pytest.mark.slow
def test_tiny_model_beats_mean_curve_on_unseen_cycles(lmto: TestRecord) -> None:
    train = TestRecord(
        lmto.formula, lmto.rate, lmto.v_low, lmto.v_high, {c: lmto.profiles[c] for c in range(1, 9)}
    )
    ens = train_ensemble([train], members=3, epochs=40, batch=128, lr=3e-2, seed=0, model_args=TINY_ARGS)
    model_err, base_err = [], []
    for c in (9, 10):
        v, q, _ = lmto.profiles[c]
        mean_curve = np.mean([np.interp(v, *lmto.profiles[k][:2]) for k in range(1, 9)], axis=0)
        pred, _ = ens.predict_points(
            [lmto.formula] * len(v), rate=lmto.rate, cycle=c, v_low=lmto.v_low, v_high=lmto.v_high, voltage=v
        )
        model_err.append(np.abs(pred.mean(0) - q).mean())
        base_err.append(np.abs(mean_curve - q).mean())
    print(
        f"cycles 9-10 curve MAE: model {np.round(model_err, 2)} "
        f"vs mean-curve baseline {np.round(base_err, 2)}"
    )
    assert np.mean(model_err) < np.mean(base_err)
