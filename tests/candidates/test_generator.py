"""The candidate generator against an independent brute force and pymatgen's charge balance."""

from __future__ import annotations

import itertools
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymatgen.core import Composition

from drxlab.candidates.generator import (
    CandidateChunk,
    candidate_formulas,
    check_feasible,
    count_candidates,
    first_candidates,
    iter_candidates,
)
from drxlab.candidates.spec import CampaignSpec, load_spec, parse_spec
from drxlab.exceptions import CampaignError

CAMPAIGNS = Path(__file__).resolve().parents[2] / "campaigns"
Key = tuple[tuple[tuple[str, int], ...], int]


def make_spec(
    species: dict[str, float],
    li: tuple[float, float] = (1.1, 1.3),
    f: tuple[float, float] = (0.0, 0.3),
    step: float = 0.1,
    min_metals: int = 1,
    max_metals: int = 6,
) -> CampaignSpec:
    lines = "\n".join(f'"{label}" = {amount}' for label, amount in species.items())
    return parse_spec(f"""
[campaign]
name = "test"
[space]
li = {{ min = {li[0]}, max = {li[1]} }}
f = {{ min = {f[0]}, max = {f[1]} }}
step = {step}
min_metals = {min_metals}
max_metals = {max_metals}
[space.species]
{lines}
[objectives.capacity]
rate = 20
window = [1.5, 4.8]
[acquisition]
kind = "ucb"
""")


def brute_force(spec: CampaignSpec) -> set[Key]:
    """All (element units, F units) keys, by trying every species amount on the grid."""
    step = Fraction(str(spec.step))
    n = int(2 / step)
    units = [int(Fraction(str(s.max_amount)) / step) for s in spec.species]
    li_lo, li_hi = int(Fraction(str(spec.li_min)) / step), int(Fraction(str(spec.li_max)) / step)
    f_lo, f_hi = int(Fraction(str(spec.f_min)) / step), int(Fraction(str(spec.f_max)) / step)
    found: set[Key] = set()
    for amounts in itertools.product(*(range(u + 1) for u in units)):
        metal = sum(amounts)
        li = n - metal
        if not li_lo <= li <= li_hi:
            continue
        elements: dict[str, int] = {}
        for s, a in zip(spec.species, amounts):
            if a:
                elements[s.element] = elements.get(s.element, 0) + a
        if not spec.min_metals <= len(elements) <= spec.max_metals:
            continue
        cation_charge = li + sum(s.oxidation_state * a for s, a in zip(spec.species, amounts))
        for nf in range(f_lo, f_hi + 1):
            if cation_charge == 2 * (n - nf) + nf:
                found.add((tuple(sorted(elements.items())), nf))
    return found


def generated(spec: CampaignSpec, chunk: int = 50_000) -> tuple[list[Key], list[CandidateChunk]]:
    keys: list[Key] = []
    chunks = list(iter_candidates(spec, chunk=chunk))
    for c in chunks:
        metals = c.elements[1:-2]
        for row in c.units.tolist():
            keys.append((tuple((el, u) for el, u in zip(metals, row[1:-2]) if u), row[-1]))
    return keys, chunks


def check_chunk(spec: CampaignSpec, c: CandidateChunk, pymatgen_rows: int | None = None) -> None:
    """Bounds, sums, recorded oxidation states and (for a sample) pymatgen's charge balance."""
    n = round(2 / spec.step)
    assert c.elements[0] == "Li" and c.elements[-2:] == ("O", "F")
    assert list(c.elements[1:-2]) == sorted(spec.metal_elements)
    assert c.amounts.dtype == np.float64 and c.amounts.shape == c.units.shape
    np.testing.assert_allclose(c.amounts, c.units * spec.step, atol=1e-12)
    li, metals, o, f = c.amounts[:, 0], c.amounts[:, 1:-2], c.amounts[:, -2], c.amounts[:, -1]
    np.testing.assert_allclose(li + metals.sum(axis=1), 2.0, atol=1e-12)
    np.testing.assert_allclose(o + f, 2.0, atol=1e-12)
    assert np.all(li >= spec.li_min - 1e-12) and np.all(li <= spec.li_max + 1e-12)
    assert np.all(f >= spec.f_min - 1e-12) and np.all(f <= spec.f_max + 1e-12)
    n_metals = (c.units[:, 1:-2] > 0).sum(axis=1)
    assert np.all(n_metals >= spec.min_metals) and np.all(n_metals <= spec.max_metals)
    # the recorded assignment: within the maxima, adds up per element, balances exactly
    caps = np.array([round(s.max_amount / spec.step) for s in spec.species])
    assert np.all(c.species_units >= 0) and np.all(c.species_units <= caps)
    for k, el in enumerate(c.elements[1:-2], start=1):
        cols = [j for j, s in enumerate(spec.species) if s.element == el]
        np.testing.assert_array_equal(c.species_units[:, cols].sum(axis=1), c.units[:, k])
    q = np.array([s.oxidation_state for s in spec.species])
    cation = c.units[:, 0] + c.species_units @ q
    np.testing.assert_array_equal(cation, 2 * c.units[:, -2] + c.units[:, -1])
    assert np.all(c.units[:, 0] + c.units[:, 1:-2].sum(axis=1) == n)
    # pymatgen, restricted to the declared oxidation states
    override = {
        el: [s.oxidation_state for s in spec.species if s.element == el] for el in spec.metal_elements
    }
    rows = c.units if pymatgen_rows is None else c.units[:pymatgen_rows]
    for row in rows.tolist():
        # grid units, not reduced by their gcd: halving Li10Mn6Mo4O20 (Mn2+/Mn4+) to Li5Mn3Mo2O10
        # would lose the balanced assignment of whole sites
        ints = {el: u for el, u in zip(c.elements, row) if u}
        assert Composition(ints).oxi_state_guesses(oxi_states_override=override), ints


SMALL = [
    make_spec({"Mn3+": 0.4, "Ti4+": 0.4}),
    make_spec({"Mn2+": 0.3, "Mn3+": 0.3, "Ti4+": 0.4, "Nb5+": 0.3}, min_metals=2),
    make_spec({"Mn2+": 0.4, "Mn3+": 0.4, "Fe2+": 0.3, "Fe3+": 0.3, "Ti4+": 0.4}, step=0.1, min_metals=2),
    make_spec({"Mn2+": 1.0, "Mn3+": 1.0, "Mn4+": 1.0}, li=(1.0, 1.35), f=(0.0, 0.5), step=0.05, max_metals=1),
    make_spec({"V3+": 0.4, "V4+": 0.4, "V5+": 0.2, "Cr3+": 0.4, "Mo6+": 0.2}, f=(0.1, 0.4), min_metals=2),
    make_spec({"Ni2+": 0.4, "Mg2+": 0.2, "Ti4+": 0.4, "Nb5+": 0.4}, li=(1.0, 1.4), step=0.2, f=(0.0, 0.4)),
]


@pytest.mark.parametrize("spec", SMALL, ids=lambda s: "-".join(x.label for x in s.species))
def test_matches_brute_force_and_balances(spec: CampaignSpec) -> None:
    keys, chunks = generated(spec)
    assert len(keys) == len(set(keys)), "a composition was generated twice"
    assert set(keys) == brute_force(spec)
    assert count_candidates(spec) == len(keys)
    for c in chunks:
        check_chunk(spec, c)


def test_mixed_valence_splits_are_deduplicated() -> None:
    # Mn and Fe each in two states: moving Mn3+ -> Mn2+ and Fe2+ -> Fe3+ keeps the charge, so
    # without deduplication the same element amounts would appear several times.
    spec = SMALL[2]
    keys, chunks = generated(spec)
    formulas = [f for c in chunks for f in candidate_formulas(c)]
    assert len(formulas) == len(set(formulas)) == len(keys)
    species_sets = set()
    for c in chunks:
        for row in c.species_units.tolist():
            species_sets.add(tuple(row))
    assert len(species_sets) == len(keys)  # one recorded assignment per composition
    n_split = sum(
        1 for c in chunks for row in c.species_units.tolist() if row[0] and row[1] or row[2] and row[3]
    )
    assert n_split > 0  # some compositions need a mixed-valence assignment
    assert "Li1.2Fe0.2Mn0.2Ti0.4O2" in formulas  # Fe2+ + Ti4+ ... balanced by several splits


@pytest.mark.parametrize("size", [1, 7, 100, 50_000])
def test_chunk_size_does_not_change_the_result(size: int) -> None:
    spec = SMALL[1]
    _, reference = generated(spec)
    _, chunks = generated(spec, chunk=size)
    assert all(len(c) <= size for c in chunks)
    assert all(len(c) == size for c in chunks[:-1])
    for field in ("units", "amounts", "species_units"):
        np.testing.assert_array_equal(
            np.concatenate([getattr(c, field) for c in chunks]),
            np.concatenate([getattr(c, field) for c in reference]),
        )


def test_without_species_the_same_rows_in_the_same_order() -> None:
    """``species=False`` (seeding, counting) skips the oxidation-state split, nothing else."""
    spec = load_spec(CAMPAIGNS / "he-drx.toml")
    full = list(iter_candidates(spec, chunk=7_000))
    bare = list(iter_candidates(spec, chunk=7_000, species=False))
    assert [len(c) for c in bare] == [len(c) for c in full]
    for a, b in zip(full, bare):
        np.testing.assert_array_equal(a.units, b.units)
        np.testing.assert_array_equal(a.amounts, b.amounts)
        assert b.species_units.shape == (len(b), 0)


def test_amounts_have_no_float_drift() -> None:
    (c,) = iter_candidates(SMALL[3])
    for x in np.unique(c.amounts):
        assert x == float(f"{x:.3f}")  # 0.15, not 0.15000000000000002


def test_first_candidates() -> None:
    spec = SMALL[1]
    keys, chunks = generated(spec)
    first = first_candidates(spec, 5)
    assert len(first) == 5
    assert [c.formula for c in first] == candidate_formulas(chunks[0])[:5]
    cand = first[0]
    assert cand.amounts["Li"] + sum(a for el, a in cand.amounts.items() if el not in ("Li", "O", "F")) == 2.0
    assert cand.f == cand.amounts.get("F", 0.0)
    for el in ("Mn", "Ti", "Nb"):
        parts = sum(a for label, a in cand.oxidation_states.items() if label.startswith(el))
        assert parts == pytest.approx(cand.amounts.get(el, 0.0))
    assert cand.composition_class in ("2TM", "3TM")
    assert len(first_candidates(spec, 10**9)) == len(keys)
    assert first_candidates(spec, 0) == []


# --- random small specs --------------------------------------------------------------------

POOL = {
    "Mn": (2, 3, 4),
    "Fe": (2, 3),
    "Ni": (2,),
    "Mg": (2,),
    "Cr": (3,),
    "V": (3, 4, 5),
    "Ti": (4,),
    "Nb": (5,),
    "Mo": (4, 6),
}


@st.composite
def small_specs(draw: st.DrawFn) -> CampaignSpec:
    step = draw(st.sampled_from([0.1, 0.2, 0.25]))
    n = round(2 / step)
    elements = draw(st.lists(st.sampled_from(sorted(POOL)), min_size=1, max_size=4, unique=True))
    species: dict[str, float] = {}
    for el in elements:
        states = draw(st.lists(st.sampled_from(POOL[el]), min_size=1, max_size=2, unique=True))
        for q in states:
            if len(species) < 5:
                species[f"{el}{q}+"] = round(draw(st.integers(1, 5)) * step, 6)
    total = sum(round(a / step) for a in species.values())
    li_lo = draw(st.integers(max(0, n - total - 1), n - 1))  # mostly enough metal to fill the cations
    li_hi = draw(st.integers(li_lo, n - 1))
    f_lo = draw(st.integers(0, n // 4))
    f_hi = draw(st.integers(f_lo, n // 4 + 1))
    min_metals = draw(st.integers(1, 2))
    max_metals = draw(st.integers(min_metals, 4))
    return make_spec(
        species,
        li=(round(li_lo * step, 6), round(li_hi * step, 6)),
        f=(round(f_lo * step, 6), round(f_hi * step, 6)),
        step=step,
        min_metals=min_metals,
        max_metals=max_metals,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_specs())
def test_random_specs_match_brute_force_and_pymatgen(spec: CampaignSpec) -> None:
    expected = brute_force(spec)
    if not expected:
        with pytest.raises(CampaignError, match="campaign 'test': "):
            count_candidates(spec)
        return
    keys, chunks = generated(spec, chunk=17)
    assert len(keys) == len(set(keys))
    assert set(keys) == expected
    for c in chunks[:3]:
        check_chunk(spec, c)


# --- infeasible specs name the constraint ---------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            make_spec({"Mn3+": 0.4, "Ti4+": 0.4}, min_metals=3),
            r"min_metals = 3 but only 2 metal elements are listed in \[space.species\] \(Mn, Ti\)",
        ),
        (
            make_spec({"Mn3+": 0.2, "Ti4+": 0.2}),
            r"species maxima sum to 0.4 < required metal amount 0.7 \(2 − li_max = 2 − 1.3\)",
        ),
        (
            make_spec({"Mn3+": 0.8, "Ti4+": 0.8}, li=(1.0, 1.0), max_metals=1),
            r"the maxima of the 1 largest elements \(max_metals = 1\) sum to 0.8 < required metal amount 1",
        ),
        (
            make_spec({"Mn3+": 0.4, "Ti4+": 0.4, "Nb5+": 0.4}, li=(1.9, 1.9), min_metals=2),
            r"min_metals = 2 metals of at least one step \(0.1\) each need 0.2 > available metal amount 0.1",
        ),
        (
            make_spec({"Mn2+": 0.9}),
            r"no composition satisfies charge balance with Li in \[1.1, 1.3\] and F in \[0, 0.3\]: "
            r"the species' charges cannot reach the anion charge; cation charge is at most 2.9",
        ),
        (
            make_spec({"Ti4+": 0.9}, li=(1.1, 1.1), f=(0.0, 0.0)),
            r"the species' charges are too high; cation charge is at least 4.7",
        ),
        (
            make_spec({"Mn2+": 0.8, "Nb5+": 0.8}, li=(1.2, 1.2), f=(0.0, 0.0), max_metals=1),
            r"the metal-count limits \(min_metals = 1, max_metals = 1\) exclude every balanced composition; "
            r"e.g. Li1.2Mn0.4Nb0.4O2 balances with 2 metals",
        ),
        (
            make_spec({"Mn2+": 0.8, "Ti4+": 0.8}, li=(1.2, 1.2), f=(0.3, 0.3)),
            r"the F range \[0.3, 0.3\] excludes every balanced composition; e.g. .* needs F = 0",
        ),
        (
            make_spec(
                {"Mo6+": 0.25, "Nb5+": 0.25},
                li=(1.25, 1.75),
                f=(0.0, 0.0),
                step=0.25,
                min_metals=2,
                max_metals=2,
            ),
            r"no composition satisfies charge balance Σ q·n = 2·O \+ F with Li in \[1.25, 1.75\], F "
            r"in \[0, 0\] "
            r"and 2–2 metal elements using Mo6\+, Nb5\+ on a grid of step 0.25",
        ),
        (
            make_spec(
                {"Mg2+": 0.6, "Nb5+": 0.4, "Fe2+": 0.6}, li=(1.0, 1.0), f=(0.0, 0.0), step=0.2, max_metals=2
            ),
            r"the F range \[0, 0\] excludes every balanced composition; e.g. LiFe0.[46]Mg0.[46]OF "
            r"needs F = 1",
        ),
        (
            make_spec(
                {"Mg2+": 0.2, "Nb5+": 0.4, "Fe2+": 0.6},
                li=(1.0, 1.0),
                f=(0.0, 0.0),
                step=0.2,
                min_metals=2,
                max_metals=2,
            ),
            r"the Li range \[1, 1\] excludes every balanced composition; e.g. Li1.2Fe0.4Nb0.4O2 "
            r"needs Li = 1.2",
        ),
    ],
)
def test_infeasible_specs_name_the_constraint(spec: CampaignSpec, match: str) -> None:
    assert not brute_force(spec)
    with pytest.raises(CampaignError, match=match):
        count_candidates(spec)
    with pytest.raises(CampaignError, match=match):
        check_feasible(spec)


def test_chunk_must_be_positive() -> None:
    with pytest.raises(CampaignError, match="chunk=0 must be ≥ 1"):
        next(iter_candidates(SMALL[0], chunk=0))


# --- the shipped campaign files ---------------------------------------------------------------


def test_shipped_li_mn_o_f() -> None:
    spec = load_spec(CAMPAIGNS / "li-mn-o-f.toml")
    n = count_candidates(spec)
    print(f"li-mn-o-f.toml: {n} candidates")
    assert n == 14 * 21  # every Li in [1.0, 1.325] x F in [0, 0.5] on the 0.025 grid balances
    for c in iter_candidates(spec):
        check_chunk(spec, c, pymatgen_rows=50)
    assert [o.kind for o in spec.objectives] == ["capacity", "cycle_capacity"]
    assert spec.objectives[1].cycle == 30


def test_shipped_he_drx() -> None:
    spec = load_spec(CAMPAIGNS / "he-drx.toml")
    start = time.perf_counter()
    n, chunks = 0, 0
    for c in iter_candidates(spec, chunk=20_000):
        n += len(c)
        chunks += 1
        check_chunk(spec, c, pymatgen_rows=20)
    elapsed = time.perf_counter() - start
    print(f"he-drx.toml: {n} candidates in {chunks} chunks ({elapsed:.2f} s with checks)")
    assert 10**4 <= n <= 10**5
    assert n == count_candidates(spec)
    assert {c.composition_class for c in first_candidates(spec, 50)} == {"HE"}
    assert spec.metal_elements == ("Cr", "Fe", "Mg", "Mn", "Nb", "Ni", "Ti", "V")


def test_enumeration_is_fast() -> None:
    spec = load_spec(CAMPAIGNS / "he-drx.toml")
    start = time.perf_counter()
    n = count_candidates(spec)
    rate = n / (time.perf_counter() - start)
    print(f"enumeration: {rate:,.0f} candidates/s")
    assert rate > 20_000  # a 10^5 space in a few seconds, with margin for a busy machine
