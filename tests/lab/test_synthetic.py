"""The synthetic DRX oracle behaves the way a DRX researcher expects."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from drxlab.chem.compositions import amounts, oxidation_states
from drxlab.exceptions import ChargeBalanceError, ConditionError, OracleError
from drxlab.lab.synthetic import synthetic_raw_profile, true_capacities, true_capacity, valences
from drxlab.profiles.process import process_segment

LMTO = "Li1.2Mn0.4Ti0.4O2"
WINDOW = (1.5, 4.8)
REDOX_SPECIES = {
    "Mn2": ("Mn", 2),
    "Mn3": ("Mn", 3),
    "Cr3": ("Cr", 3),
    "V3": ("V", 3),
    "Fe2": ("Fe", 2),
    "Ni2": ("Ni", 2),
    "Co2": ("Co", 2),
}
SPECTATORS = {
    "Ti4": ("Ti", 4),
    "Nb5": ("Nb", 5),
    "Mg2": ("Mg", 2),
    "Zr4": ("Zr", 4),
    "Mo6": ("Mo", 6),
    "Ta5": ("Ta", 5),
    "Al3": ("Al", 3),
}
TOP = {"Mn": 4, "Cr": 6, "V": 5, "Fe": 3, "Ni": 4, "Co": 3}  # conventional (large) TM redox


def balanced(li: float, f: float, species: list[tuple[str, int]], w: np.ndarray) -> dict[str, float] | None:
    """Charge-balance metal weights ``w`` by moving weight to the highest/lowest-valent species."""
    z = np.array([q for _, q in species], float)
    w = w / w.sum() * (2 - li)
    target, avg = (4 - f - li) / (2 - li), float(w @ z) / (2 - li)
    j = int(np.argmax(z) if avg < target else np.argmin(z))
    if abs(z[j] - avg) < 1e-9:
        return None
    t = (target - avg) / (z[j] - avg)
    if not 0 <= t < 0.8:
        return None
    w = (1 - t) * w
    w[j] += t * (2 - li)
    if w.min() < 0.02 or sum(wi * (TOP[e] - q) for (e, q), wi in zip(species, w) if e in TOP) < 0.3:
        return None  # a DRX candidate has ≥ 0.3 e/f.u. of conventional TM redox
    return {"Li": li, **{e: float(wi) for (e, _), wi in zip(species, w)}, "O": 2 - f, "F": f}


def drx_compositions(n: int, seed: int = 0) -> list[dict[str, float]]:
    """``n`` random charge-balanced DRX candidates: 2–6 metals, Li 1.1–1.3, F ≤ 0.2."""
    rng, out = np.random.default_rng(seed), []
    while len(out) < n:
        k = int(rng.integers(2, 7))
        nr = int(rng.integers(1, min(k, 4) + 1))
        species = [REDOX_SPECIES[s] for s in rng.choice(sorted(REDOX_SPECIES), nr, replace=False)]
        species += [SPECTATORS[s] for s in rng.choice(sorted(SPECTATORS), k - nr, replace=False)]
        if len({e for e, _ in species}) < k:
            continue
        comp = balanced(rng.uniform(1.1, 1.3), rng.uniform(0, 0.2), species, rng.dirichlet(np.ones(k)))
        if comp is not None:
            out.append(comp)
    return out


def processed_capacity(formula: str | dict, rate: float = 20.0, cycle: int = 1, window=WINDOW) -> float:
    amts = amounts(formula) if isinstance(formula, str) else formula
    return process_segment(*synthetic_raw_profile(amts, rate, *window, cycle)).capacity


def test_lmto_first_discharge_capacity_is_in_the_published_range():
    assert 230 <= processed_capacity(LMTO) <= 290


def test_more_li_excess_gives_more_capacity_at_fixed_mn3_below_saturation():
    # Li(1+x) Mn(1-3x) Ti(2x) O2 keeps Mn3+ / Ti4+ for every x
    series = ["Li1.05Mn0.85Ti0.1O2", "Li1.1Mn0.7Ti0.2O2", "Li1.15Mn0.55Ti0.3O2", LMTO]
    for formula in series:
        assert oxidation_states(amounts(formula))["Mn"] == pytest.approx(3.0)
    caps = [processed_capacity(f) for f in series]
    assert all(b > a + 5 for a, b in zip(caps, caps[1:])), caps
    assert caps[0] < 150  # below the 0-TM percolation threshold little Li is accessible


def test_fluorination_lowers_first_cycle_but_raises_cycle_30_capacity():
    series = [f"Li1.2Mn0.8O{2 - y:g}F{y:g}" for y in (0.0, 0.1, 0.2, 0.3)]
    for formula in series:
        oxidation_states(amounts(formula))  # charge-balanced with Mn3+/Mn4+ (raises otherwise)
    first = [processed_capacity(f, cycle=1) for f in series]
    thirtieth = [processed_capacity(f, cycle=30) for f in series]
    assert all(b < a for a, b in zip(first, first[1:])), first
    assert all(b > a for a, b in zip(thirtieth, thirtieth[1:])), thirtieth


def test_higher_rate_lowers_capacity_and_average_voltage():
    rates = (20, 100, 400, 1000)
    profiles = [process_segment(*synthetic_raw_profile(amounts(LMTO), r, *WINDOW, 1)) for r in rates]
    caps = [p.capacity for p in profiles]
    volts = [p.average_voltage for p in profiles]
    assert all(b < a for a, b in zip(caps, caps[1:])), caps
    assert all(b < a for a, b in zip(volts, volts[1:])), volts
    assert 0.4 < caps[-1] / caps[0] < 0.85  # DRX keep roughly half their capacity at 1 A/g


def test_high_entropy_and_li_excess_improve_rate_retention():
    def retention(formula: str) -> float:
        amts = amounts(formula)
        return true_capacity(amts, 1000, *WINDOW, 1) / true_capacity(amts, 20, *WINDOW, 1)

    assert retention("Li1.3Mn0.1Ti0.6O2") > retention("Li1.1Mn0.7Ti0.2O2")
    assert retention("Li1.2Mn0.1Mg0.1Cr0.1V0.1Ti0.3Nb0.1O2") > retention(LMTO)


def test_capacity_never_rises_with_cycle_number():
    comps = drx_compositions(200, seed=1)
    for rate, window in ((20, WINDOW), (500, (2.0, 4.4))):
        caps = np.array([true_capacities(comps, rate, *window, c) for c in (1, 2, 5, 10, 30, 100)])
        assert np.all(np.diff(caps, axis=0) <= 1e-9)


def test_random_drx_candidates_have_drx_like_capacities():
    caps = true_capacities(drx_compositions(200, seed=2), 20, *WINDOW, 1)
    assert np.all((caps >= 80) & (caps <= 350)), (caps.min(), caps.max())
    assert np.mean((caps >= 100) & (caps <= 330)) >= 0.9
    assert caps.std() > 25  # composition matters


def test_curves_are_monotone_and_start_at_zero():
    for comp in drx_compositions(30, seed=3):
        v, q = synthetic_raw_profile(comp, 100, 2.0, 4.6, 3)
        assert v[0] == 4.6 and v[-1] == 2.0 and np.all(np.diff(v) < 0)
        assert q[0] == 0 and np.all(np.diff(q) >= 0)


@pytest.mark.parametrize(
    ("rate", "window", "cycle"), [(20, WINDOW, 1), (1000, (2.0, 4.4), 30), (50, (3.0, 4.0), 5)]
)
def test_processed_profile_capacity_matches_true_capacity(rate, window, cycle):
    for comp in drx_compositions(20, seed=4):
        expected = true_capacity(comp, rate, *window, cycle)
        got = process_segment(*synthetic_raw_profile(comp, rate, *window, cycle)).capacity
        assert got == pytest.approx(expected, rel=0.01)


def test_true_capacities_match_single_calls():
    comps = drx_compositions(50, seed=5)
    batch = true_capacities(comps, 200, 1.5, 4.5, 7)
    single = [true_capacity(c, 200, 1.5, 4.5, 7) for c in comps]
    np.testing.assert_allclose(batch, single, rtol=1e-10)


def test_window_truncates_capacity():
    amts = amounts(LMTO)
    full = true_capacity(amts, 20, 1.5, 4.8, 1)
    assert true_capacity(amts, 20, 2.0, 4.8, 1) < full
    assert true_capacity(amts, 20, 1.5, 4.4, 1) < full


def test_deterministic_and_fast_enough():
    comps = drx_compositions(300, seed=6)
    first = [synthetic_raw_profile(c, 20, *WINDOW, 1)[1] for c in comps[:5]]
    start = time.perf_counter()
    for c in comps:
        synthetic_raw_profile(c, 100, *WINDOW, 2)
    per_s = len(comps) / (time.perf_counter() - start)
    start = time.perf_counter()
    true_capacities(comps * 100, 20, *WINDOW, 1)
    caps_per_s = 100 * len(comps) / (time.perf_counter() - start)
    print(f"synthetic oracle: {per_s:.0f} raw profiles/s, {caps_per_s:.0f} capacities/s")
    for q, c in zip(first, comps):
        np.testing.assert_array_equal(q, synthetic_raw_profile(c, 20, *WINDOW, 1)[1])


def test_valence_ladder_agrees_with_pymatgen_assignment():
    for formula in (
        LMTO,
        "Li1.2Mn0.8O1.8F0.2",
        "Li1.333Mn0.667O2",
        "Li1.2Ni0.2Ti0.6O2",
        "Li1.25V0.55Nb0.2O1.9F0.1",
        "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2",
    ):
        amts = amounts(formula)
        expected = oxidation_states(amts)
        got = valences(amts)
        for el, q in expected.items():
            assert got[el] == pytest.approx(q, abs=2e-3), (formula, el)


@pytest.mark.parametrize("formula", ["Li1.2Mg0.4Nb0.4O2", "Li1.2Ti0.6Nb0.2O2"])
def test_no_redox_active_metal_is_an_oracle_error(formula):
    with pytest.raises(OracleError, match="no redox-active metal"):
        true_capacity(amounts(formula), 20, *WINDOW, 1)


def test_unsupported_element_is_named():
    with pytest.raises(OracleError, match="'Cu'"):
        synthetic_raw_profile({"Li": 1.2, "Mn": 0.4, "Cu": 0.4, "O": 2.0}, 20, *WINDOW, 1)
    with pytest.raises(OracleError, match="'Cl'"):
        true_capacities([amounts(LMTO), {"Li": 1.2, "Mn": 0.8, "O": 1.8, "Cl": 0.2}], 20, *WINDOW, 1)


def test_unbalanced_composition_raises_or_is_nan():
    bad = {"Li": 1.2, "Cr": 0.2, "Nb": 0.6, "O": 2.0}
    with pytest.raises(ChargeBalanceError, match="off charge balance"):
        true_capacity(bad, 20, *WINDOW, 1)
    comps = [amounts(LMTO), bad, {"Li": 1.2, "Ti": 0.8, "O": 2.0}]
    caps = true_capacities(comps, 20, *WINDOW, 1, on_error="nan")
    assert np.isfinite(caps[0]) and np.isnan(caps[1:]).all()


@pytest.mark.parametrize(
    ("rate", "v_low", "v_high", "cycle", "match"),
    [
        (0, 1.5, 4.8, 1, "rate"),
        (-20, 1.5, 4.8, 1, "rate"),
        (float("nan"), 1.5, 4.8, 1, "rate"),
        (20, 4.8, 1.5, 1, "v_low"),
        (20, 3.0, 3.0, 1, "v_low"),
        (20, 1.5, 4.8, 0, "cycle"),
        (20, 1.5, 4.8, 1.5, "cycle"),
    ],
)
def test_invalid_conditions_are_condition_errors(rate, v_low, v_high, cycle, match):
    with pytest.raises(ConditionError, match=match):
        synthetic_raw_profile(amounts(LMTO), rate, v_low, v_high, cycle)
    with pytest.raises(ConditionError, match=match):
        true_capacities([amounts(LMTO)], rate, v_low, v_high, cycle)


@st.composite
def candidates(draw) -> dict[str, float]:
    k = draw(st.integers(2, 6))
    redox = draw(
        st.lists(st.sampled_from(sorted(REDOX_SPECIES)), min_size=1, max_size=min(k, 4), unique=True)
    )
    n_spect = k - len(redox)
    spect = draw(
        st.lists(st.sampled_from(sorted(SPECTATORS)), min_size=n_spect, max_size=n_spect, unique=True)
    )
    species = [REDOX_SPECIES[s] for s in redox] + [SPECTATORS[s] for s in spect]
    assume(len({e for e, _ in species}) == len(species))
    w = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=len(species), max_size=len(species))))
    comp = balanced(draw(st.floats(1.0, 1.4)), draw(st.floats(0.0, 0.4)), species, w)
    assume(comp is not None)
    return comp


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
@given(
    comp=candidates(),
    rate=st.floats(1.0, 5000.0),
    cycle=st.integers(1, 200),
    v_low=st.floats(1.0, 3.0),
    span=st.floats(0.3, 3.5),
)
def test_any_valid_composition_gives_a_finite_monotone_curve(comp, rate, cycle, v_low, span):
    v, q = synthetic_raw_profile(comp, rate, v_low, v_low + span, cycle)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(q))
    assert q[0] == 0 and np.all(np.diff(q) >= 0) and np.all(np.diff(v) < 0)
    assert 0 <= q[-1] <= 400
    assert q[-1] == pytest.approx(true_capacity(comp, rate, v_low, v_low + span, cycle), rel=1e-9, abs=1e-9)
