"""Parsing, normalising, classifying and charge-balancing DRX target compositions."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drxlab.chem import compositions as C
from drxlab.chem.constants import CATION_SUM
from drxlab.exceptions import ChargeBalanceError, CompositionError

LMTO = "Li1.2Mn0.4Ti0.4O2"
HE = "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2"
# metal -> an oxidation state pymatgen lists for it (ICSD and common), as a DRX chemist writes them
METAL_STATES = {"Mg": 2, "Mn": 3, "Cr": 3, "Fe": 3, "Ti": 4, "Zr": 4, "Nb": 5}


def cation_sum(amts: dict[str, float]) -> float:
    return sum(a for el, a in amts.items() if el not in C.ANIONS)


# ---------------------------------------------------------------- parse / amounts / format
def test_parse_accepts_spaces_and_any_scale() -> None:
    comp = C.parse("  Li1.2 Mn0.4 Ti0.4 O2 ")
    assert comp["Li"] == pytest.approx(1.2) and comp["O"] == pytest.approx(2.0)
    assert C.amounts(C.parse("Li0.6Mn0.2Ti0.2O")) == C.amounts(comp)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (LMTO, {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}),
        ("Li0.6Mn0.2Ti0.2O", {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}),  # half a formula unit
        ("Li2MnO3", {"Li": 1.3333, "Mn": 0.6667, "O": 2.0}),  # cations rescaled to 2
        (HE, {"Li": 1.2, "Mn": 0.1, "Mg": 0.1, "Cr": 0.3, "Ti": 0.2, "Nb": 0.1, "O": 1.8, "F": 0.2}),
    ],
)
def test_amounts_scale_cations_to_two(text: str, expected: dict[str, float]) -> None:
    amts = C.amounts(text)
    assert amts == expected
    assert cation_sum(amts) == pytest.approx(CATION_SUM, abs=1e-9)


def test_amounts_of_a_mapping_ignores_zero_amounts() -> None:
    assert C.amounts({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "Cr": 0.0, "O": 2.0}) == C.amounts(LMTO)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (LMTO, LMTO),
        ("Ti0.4 O2 Mn0.4 Li1.2", LMTO),  # order of the input does not matter
        ("Li2MnO3", "Li1.3333Mn0.6667O2"),
        ("LiMnO2", "LiMnO2"),  # amounts of 1 are not written
        ("F0.1O1.9Ti0.5Mn0.4Li1.1", "Li1.1Mn0.4Ti0.5O1.9F0.1"),  # O before F, metals alphabetical
        (HE, "Li1.2Cr0.3Mg0.1Mn0.1Nb0.1Ti0.2O1.8F0.2"),
    ],
)
def test_normalise_writes_the_canonical_formula(text: str, canonical: str) -> None:
    assert C.normalise(text) == canonical
    assert C.normalise(canonical) == canonical
    assert C.amounts(canonical) == C.amounts(text)


def test_format_formula_drops_zero_and_rounds_to_four_decimals() -> None:
    assert C.format_formula({"O": 2.0, "Ti": 0.4, "Li": 1.2, "Mn": 0.4, "Cr": 0.0}) == LMTO
    assert C.format_formula({"Li": 1.23456, "Mn": 0.76544, "O": 2}) == "Li1.2346Mn0.7654O2"


# ---------------------------------------------------------------- classes and integer scale
@pytest.mark.parametrize(
    ("text", "klass", "metals"),
    [
        ("LiMnO2", "2TM", ["Mn"]),
        (LMTO, "2TM", ["Mn", "Ti"]),
        ("Li1.2Mn0.2Ti0.3Nb0.3O2", "3TM", ["Mn", "Nb", "Ti"]),
        ("Li1.2Mn0.2Cr0.2Ti0.2Nb0.2O2", "HE", ["Cr", "Mn", "Nb", "Ti"]),
        (HE, "HE", ["Cr", "Mg", "Mn", "Nb", "Ti"]),
    ],
)
def test_composition_class_counts_metals_besides_li(text: str, klass: str, metals: list[str]) -> None:
    amts = C.amounts(text)
    assert C.metals(amts) == metals  # F and O are anions, Li is not counted
    assert C.composition_class(amts) == klass


@pytest.mark.parametrize(
    ("amts", "ints"),
    [
        ({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}, {"Li": 3, "Mn": 1, "Ti": 1, "O": 5}),
        ({"Li": 1.3333, "Mn": 0.6667, "O": 2.0}, {"Li": 2, "Mn": 1, "O": 3}),  # 4/3, not 13333/10000
        (
            {"Li": 1.1, "Mn": 0.4, "Ti": 0.5, "O": 1.9, "F": 0.1},
            {"Li": 11, "Mn": 4, "Ti": 5, "O": 19, "F": 1},
        ),
        ({"Li": 1.0, "Mn": 1.0, "O": 2.0}, {"Li": 1, "Mn": 1, "O": 2}),
    ],
)
def test_integer_scale_is_the_smallest_integer_multiple(amts: dict, ints: dict) -> None:
    assert C.integer_scale(amts) == ints


# ---------------------------------------------------------------- oxidation states, charge
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (LMTO, {"Li": 1, "Mn": 3, "Ti": 4, "O": -2}),
        ("Li2MnO3", {"Li": 1, "Mn": 4, "O": -2}),
        ("Li1.1Mn0.4Ti0.5O1.9F0.1", {"Li": 1, "Mn": 2, "Ti": 4, "O": -2, "F": -1}),
        (HE, {"Li": 1, "Mn": 2, "Mg": 2, "Cr": 3, "Ti": 4, "Nb": 5, "O": -2, "F": -1}),
        ("Li1.2Mn0.8O1.6F0.4", {"Li": 1, "Mn": 3, "O": -2, "F": -1}),  # fluorinated Li-Mn-O-F points
        ("Li1.2Mn0.8O1.8F0.2", {"Li": 1, "Mn": 3.25, "O": -2, "F": -1}),  # mixed valence: an average state
    ],
)
def test_oxidation_states_of_real_drx_compositions(text: str, expected: dict[str, float]) -> None:
    amts = C.amounts(text)
    states = C.oxidation_states(amts)
    assert states == pytest.approx(expected)
    assert abs(C.charge(amts, states)) <= C.BALANCE_TOLERANCE


def test_charge_is_the_sum_of_state_times_amount() -> None:
    amts = C.amounts(LMTO)
    assert C.charge(amts, {"Li": 1, "Mn": 3, "Ti": 4, "O": -2}) == pytest.approx(0.0, abs=1e-12)
    assert C.charge(amts, {"Li": 1, "Mn": 4, "Ti": 4, "O": -2}) == pytest.approx(0.4)


def test_large_formula_balances_by_common_state_ranges() -> None:
    # 1e-4 amounts make thousands of integer sites: too many for pymatgen's search
    amts = {"Li": 1.2003, "Mn": 0.3997, "Ti": 0.4, "O": 2.0}
    assert sum(C.integer_scale(amts).values()) > C.MAX_PYMATGEN_SITES
    states = C.oxidation_states(amts)
    assert states["Li"] == 1 and states["Ti"] == 4 and states["O"] == -2
    assert 2 < states["Mn"] < 4
    assert abs(C.charge(amts, states)) <= C.BALANCE_TOLERANCE


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("Li1.2Xx0.4Ti0.4O2", "unknown element Xx"),
        ("Li(Mn", "cannot parse composition 'Li\\(Mn'"),
        ("Mn2O3", "has no Li"),
        ("Li2O", "has no cations besides Li"),
        ("Li1.2Mn0.8F2", "has no O"),
    ],
)
def test_bad_compositions_are_named_in_the_error(text: str, fragment: str) -> None:
    with pytest.raises(CompositionError, match=fragment) as info:
        C.amounts(text)
    assert not isinstance(info.value, ChargeBalanceError)


def test_bad_amount_in_a_mapping() -> None:
    with pytest.raises(CompositionError, match="invalid composition"):
        C.amounts({"Li": 1.2, "Mn": "lots", "O": 2})


@pytest.mark.parametrize("text", ["LiMnO5", "Li1.2Mg0.8O4"])
def test_unbalanced_composition_names_the_formula_and_the_way_out(text: str) -> None:
    amts = C.amounts(text)
    with pytest.raises(
        ChargeBalanceError, match=rf"'{C.format_formula(amts)}' is not charge-balanced"
    ) as info:
        C.oxidation_states(amts)
    assert info.value.option == "allow_unbalanced"  # the CLI words it as --allow-unbalanced


# ---------------------------------------------------------------- properties
@st.composite
def balanced_drx(draw: st.DrawFn) -> dict[str, float]:
    """A charge-balanced Li-rich composition on a 0.05 grid: cations sum to 2, O and F balance them."""
    li = draw(st.integers(20, 26))  # units of 0.05 formula units: Li 1.0 … 1.3
    metals = draw(st.lists(st.sampled_from(sorted(METAL_STATES)), min_size=1, max_size=4, unique=True))
    cuts = sorted(
        draw(
            st.lists(
                st.integers(1, 40 - li - 1), min_size=len(metals) - 1, max_size=len(metals) - 1, unique=True
            )
        )
    )
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, 40 - li])]
    units = {"Li": li, **dict(zip(metals, parts))}
    plus = li + sum(METAL_STATES[m] * u for m, u in zip(metals, parts))  # positive charge, 0.05 e units
    f = draw(st.integers(0, 6))
    f += (plus - f) % 2  # O = (plus - F) / 2 stays on the grid
    amts = {el: u / 20 for el, u in units.items()}
    amts["O"] = (plus - f) / 40
    if f:
        amts["F"] = f / 20
    return amts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    amts=balanced_drx(), scale=st.sampled_from([0.5, 1.0, 1.5, 3.0]), order=st.randoms(use_true_random=False)
)
def test_formula_round_trips_and_balances(amts: dict[str, float], scale: float, order: random.Random) -> None:
    formula = C.format_formula(amts)
    assert C.amounts(formula) == pytest.approx(amts, abs=1e-12)
    # the same material written at another scale and in another order normalises to the same string
    items = list(amts.items())
    order.shuffle(items)
    assert C.normalise(" ".join(f"{el}{a * scale!r}" for el, a in items)) == formula
    states = C.oxidation_states(C.amounts(formula))
    assert abs(C.charge(amts, states)) <= C.BALANCE_TOLERANCE


amount = st.floats(0.01, 2.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    li=amount,
    o=amount,
    f=st.one_of(st.just(0.0), amount),
    metals=st.dictionaries(st.sampled_from(sorted(METAL_STATES)), amount, min_size=1, max_size=4),
)
def test_normalising_is_idempotent(li: float, o: float, f: float, metals: dict[str, float]) -> None:
    once = C.normalise({"Li": li, "O": o, "F": f, **metals})
    assert C.normalise(once) == once
    assert C.amounts(C.amounts(once)) == C.amounts(once)
    assert cation_sum(C.amounts(once)) == pytest.approx(CATION_SUM, abs=1e-9)
