"""The paper's central practical result on a virtual campaign: logging only the first cycle of
new compositions and fine-tuning cuts the error on their later cycles without forgetting."""

from __future__ import annotations

import numpy as np
import pytest

from drxlab.lab.noise import NoiseModel
from drxlab.lab.oracle import synthetic_oracle
from drxlab.store import queries
from drxlab.store.db import open_store
from drxlab.workflow import lab, models, training

LATER = tuple(range(2, 21))


def _curve_mae(ensemble, rows: list[tuple[str, int, float]]) -> float:
    pred = ensemble.predict_capacity([r[0] for r in rows], 20.0, 1.5, 4.8, np.array([r[1] for r in rows]))
    return float(np.abs(pred.mean(0) - np.array([r[2] for r in rows])).mean())


@pytest.mark.slow
def test_first_cycle_of_new_compositions_fixes_their_later_cycles(tmp_path) -> None:
    store = open_store(tmp_path / "v.sqlite")
    oracle = synthetic_oracle()
    rng = np.random.default_rng(0)
    with store.transaction() as s:
        lab.seed(
            s,
            oracle,
            n=24,
            classes=["2TM"],
            seed_=0,
            noise=NoiseModel(failure_rate=0.0),
            tests=((20.0, (1, 2, 3, 5, 10, 15, 20)), (200.0, (1, 5))),
        )
    with store.transaction() as s:
        old = queries.test_records(s)
        held = {r.formula for r in old[::6]}
        train_ids = [r.test_id for r in old if r.formula not in held]
    with store.transaction() as s:
        from drxlab.training.trainer import train_ensemble

        ens = train_ensemble(
            queries.test_records(s, test_ids=train_ids),
            members=5,
            epochs=15,
            seed=0,
            model_args=training.TINY_MODEL,
        )
        # every old test counts as seen: only the 8 new first cycles are new to the fine-tune
        models.register(s, ens, source="trained", training={"test_ids": [r.test_id for r in old]})
    new = lab.seed_compositions(8, ["3TM", "HE"], rng)
    truth = [
        (f, c, oracle.capacities([a], 20.0, 1.5, 4.8, c)[0])
        for a in new
        for f in [lab.compositions.format_formula(a)]
        for c in LATER
    ]
    held_rows = [
        (r.formula, c, float(q[0]))
        for r in old
        if r.formula in held and r.rate == 20.0
        for c, (v, q, d) in r.profiles.items()
    ]
    with store.transaction() as s:
        for a in new:
            lab.measure_one(
                s,
                oracle,
                a,
                rate=20.0,
                window=(1.5, 4.8),
                cycles=[1],
                noise=NoiseModel(failure_rate=0.0),
                rng=rng,
            )
    with store.reader() as s:
        _, before = models.current(s)
    sigma1_before = (
        before.predict_capacity([t[0] for t in truth[:: len(LATER)]], 20.0, 1.5, 4.8, 1).std(0).mean()
    )
    with store.transaction() as s:
        res = training.finetune(s, seed=0)
    with store.reader() as s:
        _, after = models.current(s)
    sigma1_after = (
        after.predict_capacity([t[0] for t in truth[:: len(LATER)]], 20.0, 1.5, 4.8, 1).std(0).mean()
    )
    mae_b, mae_a = _curve_mae(before, truth), _curve_mae(after, truth)
    for c in (2, 5, 10, 20):
        rows = [t for t in truth if t[1] == c]
        print(f"cycle {c}: MAE {_curve_mae(before, rows):.1f} -> {_curve_mae(after, rows):.1f}")
    first = [
        (f, 1, oracle.capacities([a], 20.0, 1.5, 4.8, 1)[0])
        for a in new
        for f in [lab.compositions.format_formula(a)]
    ]
    print(f"cycle 1: MAE {_curve_mae(before, first):.1f} -> {_curve_mae(after, first):.1f}")
    old_b, old_a = _curve_mae(before, held_rows), _curve_mae(after, held_rows)
    print(
        f"\ncycles 2-20 MAE {mae_b:.1f} -> {mae_a:.1f} mAh/g ({1 - mae_a / mae_b:.0%} lower); "
        f"sigma_Q cycle 1 {sigma1_before:.1f} -> {sigma1_after:.1f}; held-out old MAE {old_b:.1f} "
        f"-> {old_a:.1f}; "
        f"version {res.version.id} parent {res.version.parent_id}"
    )
    # The cut here is 35 % ± 1 % with float32 summation order alone (35.5 % and 34.6 % with the two
    # gate-logit sums of drxlab.model.segments): 30 % is what this tiny campaign supports. The
    # 35 % acceptance is held on the real LMTO cell (tests/cli/test_lmto_finetune_cli.py).
    assert mae_a <= 0.70 * mae_b  # at least a 30 % cut
    assert sigma1_after < sigma1_before
    assert old_a <= 1.10 * old_b
