"""Virtual measurements: seeded, realistic scatter, honest failures, exact when noise is off."""

from __future__ import annotations

import numpy as np
import pytest

from drxlab.chem.compositions import amounts
from drxlab.exceptions import ConditionError, OracleError
from drxlab.lab.noise import Measurement, NoiseModel, measure
from drxlab.lab.synthetic import synthetic_raw_profile, true_capacity
from drxlab.profiles.process import process_segment

LMTO = amounts("Li1.2Mn0.4Ti0.4O2")
NO_FAIL = NoiseModel(failure_rate=0.0)


def run(seed, noise: NoiseModel = NO_FAIL, amts=LMTO, cycles=(1, 2, 10)) -> Measurement:
    return measure(synthetic_raw_profile, amts, 20.0, 1.5, 4.8, cycles, noise, np.random.default_rng(seed))


def test_same_seed_gives_identical_measurements():
    a, b = run(7), run(7)
    assert a.sample_amounts == b.sample_amounts
    for (ca, va, qa), (cb, vb, qb) in zip(a.profiles, b.profiles):
        assert ca == cb
        np.testing.assert_array_equal(va, vb)
        np.testing.assert_array_equal(qa, qb)


def test_different_seeds_give_different_measurements():
    a, b = run(1), run(2)
    assert a.sample_amounts != b.sample_amounts
    assert not np.array_equal(a.profiles[0][2], b.profiles[0][2])


def test_noise_off_reproduces_the_oracle_exactly():
    m = run(3, NoiseModel.off())
    assert not m.failed and m.sample_amounts == LMTO
    for cycle, v, q in m.profiles:
        v_true, q_true = synthetic_raw_profile(LMTO, 20.0, 1.5, 4.8, cycle)
        np.testing.assert_array_equal(v, v_true)
        np.testing.assert_array_equal(q, q_true)


def test_noisy_capacity_scatters_by_a_few_mah_per_g_around_the_truth():
    truth = true_capacity(LMTO, 20.0, 1.5, 4.8, 1)
    caps = np.array([process_segment(*run(s, cycles=(1,)).profiles[0][1:]).capacity for s in range(150)])
    assert abs(caps.mean() - truth) < 2.0
    assert 1.5 < caps.std() < 10.0  # capacity_sd = 3 plus composition scatter


def test_capacity_scale_is_shared_by_the_cycles_of_one_sample():
    noise = NoiseModel(capacity_sd=10.0, voltage_sd=0, point_sd=0, composition_scatter=0, failure_rate=0)
    ratio_true = true_capacity(LMTO, 20.0, 1.5, 4.8, 10) / true_capacity(LMTO, 20.0, 1.5, 4.8, 1)
    firsts = []
    for seed in range(20):
        profiles = {c: q for c, _, q in run(seed, noise).profiles}
        assert profiles[10][-1] / profiles[1][-1] == pytest.approx(ratio_true, rel=1e-9)
        firsts.append(profiles[1][-1])
    assert np.std(firsts) > 3.0


def test_failure_rate_is_roughly_honoured_and_failed_cells_have_no_profiles():
    noise = NoiseModel(failure_rate=0.1)
    ms = [run(s, noise, cycles=(1,)) for s in range(600)]
    failed = [m for m in ms if m.failed]
    assert 35 <= len(failed) <= 90  # binomial(600, 0.1): mean 60, sd 7.3
    assert all(m.profiles == () and m.reason for m in failed)
    assert all(len(m.profiles) == 1 and m.reason is None for m in ms if not m.failed)


def test_default_noise_model_fails_about_three_percent_of_cells():
    fails = sum(run(s, NoiseModel(), cycles=(1,)).failed for s in range(1000))
    assert 12 <= fails <= 55  # binomial(1000, 0.03): mean 30, sd 5.4


def test_boundary_compositions_survive_scatter():
    li2mno3 = amounts("Li1.333Mn0.667O2")  # Mn4+: at the top of its range
    ms = [run(s, NoiseModel(failure_rate=0.0), amts=li2mno3, cycles=(1,)) for s in range(100)]
    assert sum(m.failed for m in ms) <= 5


def test_oracle_errors_are_not_cell_failures():
    with pytest.raises(OracleError, match="'Cu'"):
        run(0, amts={"Li": 1.2, "Mn": 0.4, "Cu": 0.4, "O": 2.0})
    with pytest.raises(ConditionError):
        measure(synthetic_raw_profile, LMTO, -1.0, 1.5, 4.8, (1,), NoiseModel(), np.random.default_rng(0))
    with pytest.raises(ConditionError, match="cycles"):
        measure(synthetic_raw_profile, LMTO, 20.0, 1.5, 4.8, (), NoiseModel(), np.random.default_rng(0))


@pytest.mark.parametrize(
    ("field", "value"),
    [("capacity_sd", -1.0), ("voltage_sd", float("nan")), ("failure_rate", 1.0), ("failure_rate", -0.1)],
)
def test_noise_model_rejects_invalid_settings(field, value):
    with pytest.raises(ConditionError, match=field):
        NoiseModel(**{field: value})


@pytest.mark.parametrize("noise", [NoiseModel.off(), NO_FAIL])
def test_a_cycle_without_discharge_capacity_is_a_dead_cell_not_a_profile(noise):
    from drxlab.vocabulary import FailureReason

    def oracle(amts, rate, lo, hi, cycle):  # e.g. a DRXNet member whose Q(V) falls below zero by cycle 5
        v, q = synthetic_raw_profile(amts, rate, lo, hi, cycle)
        return v, (q if cycle < 5 else np.minimum(q, 0.0) - 3.0)

    m = measure(oracle, LMTO, 20.0, 1.5, 4.8, (1, 5), noise, np.random.default_rng(0))
    assert m.failed and m.profiles == () and "no discharge capacity on cycle 5" in m.reason
    assert FailureReason.parse(m.reason)[0] is FailureReason.CELL  # says nothing about the material
    assert not measure(oracle, LMTO, 20.0, 1.5, 4.8, (1, 2), noise, np.random.default_rng(0)).failed
