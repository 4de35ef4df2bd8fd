"""Campaign-file parsing and validation: one test per rule, each error matched by message."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from drxlab.candidates.spec import (
    ACQUISITION_KINDS,
    AcquisitionSpec,
    Objective,
    Species,
    load_spec,
    parse_spec,
)
from drxlab.exceptions import CampaignError
from drxlab.vocabulary import AcquisitionKind

CAMPAIGNS = Path(__file__).resolve().parents[2] / "campaigns"

BASE = """\
[campaign]
name = "he-drx"
description = "High-entropy DRX screen of the DRXNet paper"

[space]
li = { min = 1.1, max = 1.3 }
f = { min = 0.0, max = 0.3 }
step = 0.05
min_metals = 4
max_metals = 6

[space.species]
"Mn2+" = 0.3
"Mn3+" = 0.3
"Cr3+" = 0.3
"Ti4+" = 0.4
"Nb5+" = 0.3

[objectives.capacity]
rate = 20
window = [1.5, 4.8]
cycle = 1

[acquisition]
kind = "ucb"
kappa = 2.0
batch = 8
min_distance = 0.1
"""


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def test_parses_the_documented_example() -> None:
    spec = parse_spec(BASE, source="he.toml")
    assert spec.name == "he-drx"
    assert spec.description.startswith("High-entropy")
    assert (spec.li_min, spec.li_max, spec.f_min, spec.f_max, spec.step) == (1.1, 1.3, 0.0, 0.3, 0.05)
    assert (spec.min_metals, spec.max_metals) == (4, 6)
    assert spec.species[0] == Species("Mn", 2, 0.3)
    assert [s.label for s in spec.species] == ["Mn2+", "Mn3+", "Cr3+", "Ti4+", "Nb5+"]
    assert spec.metal_elements == ("Cr", "Mn", "Nb", "Ti")
    assert spec.objectives == (Objective("capacity", "capacity", 20.0, (1.5, 4.8), 1, None),)
    assert spec.acquisition == AcquisitionSpec("ucb", 2.0, 8, 0.1, 0.0, None)
    assert spec.sha256 == hashlib.sha256(BASE.encode()).hexdigest()
    assert spec.text == BASE


def test_load_spec_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(BASE)
    assert load_spec(path) == parse_spec(BASE, source=str(path))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match="nope.toml.*not found"):
        load_spec(tmp_path / "nope.toml")


def test_several_objectives_and_defaults() -> None:
    text = (
        BASE
        + """
[objectives.retention]
kind = "retention"
rate = 1000
base_rate = 20
window = [1.5, 4.8]

[objectives.energy]
rate = 20
window = [1.5, 4.8]

[objectives.late]
kind = "cycle_capacity"
rate = 20
window = [1.5, 4.8]
cycle = 30
"""
    )
    text = text.replace('kind = "ucb"', 'kind = "pareto"\nseed = 3')
    spec = parse_spec(text)
    kinds = {o.name: o.kind for o in spec.objectives}
    assert kinds == {
        "capacity": "capacity",
        "retention": "retention",
        "energy": "energy",
        "late": "cycle_capacity",
    }
    assert (spec.objectives[1].rate, spec.objectives[1].base_rate) == (1000.0, 20.0)
    assert spec.objectives[3].cycle == 30
    assert spec.acquisition.kind == "pareto"
    assert spec.acquisition.seed == 3


@pytest.mark.parametrize("kind", [k for k in ACQUISITION_KINDS if k != "pareto"])
def test_every_acquisition_kind_of_the_cli_is_accepted_in_a_file(kind: str) -> None:
    # `--acq random` worked on the command line while `kind = "random"` in a file was rejected
    assert parse_spec(edit('kind = "ucb"', f'kind = "{kind}"')).acquisition.kind == kind


def test_xi_reaches_the_spec_for_improvement_kinds() -> None:
    assert parse_spec(edit('kind = "ucb"', 'kind = "logei"\nxi = 2.5')).acquisition.xi == 2.5


def test_optional_keys_take_defaults() -> None:
    text = edit("min_metals = 4\nmax_metals = 6\n", "").replace(
        "kappa = 2.0\nbatch = 8\nmin_distance = 0.1\n", ""
    )
    spec = parse_spec(text)
    assert (spec.min_metals, spec.max_metals) == (1, 4)
    assert spec.acquisition == AcquisitionSpec("ucb")


def test_unknown_top_level_tables_are_allowed() -> None:
    assert parse_spec(BASE + '\n[model]\nname = "drxnet"\n').name == "he-drx"


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        # TOML syntax and missing keys
        ('name = "he-drx"', "name = he-drx", r"bad\.toml: invalid TOML.*line 2"),
        ('[campaign]\nname = "he-drx"\n', "[campaign]\n", r"\[campaign\] name: missing required key"),
        ("step = 0.05\n", "", r"\[space\] step: missing required key"),
        ("li = { min = 1.1, max = 1.3 }", "", r"\[space\] li: missing required key"),
        ('[acquisition]\nkind = "ucb"\n', "[acquisition]\n", r"\[acquisition\] kind: missing required key"),
        ("rate = 20\n", "", r"\[objectives.capacity\] rate: missing required key"),
        ("window = [1.5, 4.8]\n", "", r"\[objectives.capacity\] window: missing required key"),
        # wrong types
        ('name = "he-drx"', "name = 3", r"\[campaign\] name: expected a string, got 3"),
        ("step = 0.05", 'step = "0.05"', r"\[space\] step: expected a finite number"),
        ("min_metals = 4", "min_metals = 4.0", r"\[space\] min_metals: expected an integer"),
        ("batch = 8", "batch = true", r"\[acquisition\] batch: expected an integer, got True"),
        (
            "li = { min = 1.1, max = 1.3 }",
            "li = 1.2",
            r"\[space\] li: expected \{ min = \.\.\., max = \.\.\. \}",
        ),
        ("window = [1.5, 4.8]", "window = 4.8", r"window: expected \[v_low, v_high\]"),
        # bounds and grid
        (
            "li = { min = 1.1, max = 1.3 }",
            "li = { min = 1.3, max = 1.1 }",
            r"\[space\] li: min = 1.3 must be ≤ max = 1.1",
        ),
        (
            "f = { min = 0.0, max = 0.3 }",
            "f = { min = 0.0, max = 2.5 }",
            r"\[space\] f: bounds .* within \[0.0, 2\]",
        ),
        ("step = 0.05", "step = 0", r"step=0.0 must be > 0"),
        ("step = 0.05", "step = -0.1", r"step=-0.1 must be > 0"),
        ("step = 0.05", "step = 0.3", r"step=0.3 must divide 2"),
        (
            "li = { min = 1.1, max = 1.3 }",
            "li = { min = 1.12, max = 1.3 }",
            r"li.min: 1.12 is not an integer multiple of step=0.05",
        ),
        (
            "f = { min = 0.0, max = 0.3 }",
            "f = { min = 0.0, max = 0.33 }",
            r"f.max: 0.33 is not an integer multiple",
        ),
        ('"Ti4+" = 0.4', '"Ti4+" = 0.42', r"species.'Ti4\+'.*0.42 is not an integer multiple"),
        ('"Ti4+" = 0.4', '"Ti4+" = 0', r"species.'Ti4\+'.*must be > 0"),
        # species
        ('"Ti4+" = 0.4', '"Xx4+" = 0.4', r"unknown element 'Xx'"),
        ('"Ti4+" = 0.4', '"Ti" = 0.4', r"species.'Ti'.*expected a cation species like 'Mn2\+'"),
        ('"Ti4+" = 0.4', '"Ti+4" = 0.4', r"expected a cation species like"),
        ('"Ti4+" = 0.4', '"O2-" = 0.4', r"expected a cation species like"),
        (
            '"Ti4+" = 0.4',
            '"Ti7+" = 0.4',
            r"7\+ is not a known oxidation state of Ti; known: Ti2\+, Ti3\+, Ti4\+",
        ),
        ('"Ti4+" = 0.4', '"Li+" = 0.4', r"Li is set by \[space\] li / f, not listed as a species"),
        ('"Ti4+" = 0.4', '"F7+" = 0.4', r"F is set by \[space\] li / f"),
        ('"Ti4+" = 0.4', '"Ti4+" = 0.4\n"Cu+" = 0.1\n"Cu1+" = 0.1', r"species Cu1\+ is listed twice"),
        (
            '[space.species]\n"Mn2+" = 0.3\n"Mn3+" = 0.3\n"Cr3+" = 0.3\n"Ti4+" = 0.4\n"Nb5+" = 0.3\n',
            "[space.species]\n",
            r"\[space\] species: expected a non-empty table",
        ),
        # metal counts
        ("min_metals = 4", "min_metals = 7", r"min_metals=7 must be ≤ max_metals = 6"),
        ("min_metals = 4", "min_metals = 0", r"min_metals=0 must be ≥ 1"),
        # objectives
        ("[objectives.capacity]", "[objectives.fast]", r"\[objectives.fast\] kind: missing required key"),
        (
            "cycle = 1\n",
            'cycle = 1\nkind = "power"\n',
            r"kind='power' is not one of: capacity, retention, cycle_capacity, energy",
        ),
        ("rate = 20", "rate = 0", r"\[objectives.capacity\] rate: rate=0.0 must be > 0 \(mA/g\)"),
        (
            "window = [1.5, 4.8]",
            "window = [4.8, 1.5]",
            r"window: expected 0 < v_low < v_high \(V\), got \[4.8, 1.5\]",
        ),
        ("window = [1.5, 4.8]", "window = [2.0, 2.0]", r"v_low < v_high"),
        ("cycle = 1", "cycle = 0", r"cycle=0 must be ≥ 1"),
        ("cycle = 1", 'cycle = 1\nkind = "cycle_capacity"', r"cycle=1 must be > 1 for kind 'cycle_capacity'"),
        (
            "cycle = 1",
            'cycle = 1\nkind = "retention"',
            r"\[objectives.capacity\] base_rate: missing required key",
        ),
        (
            "cycle = 1",
            'cycle = 1\nkind = "retention"\nbase_rate = 20',
            r"base_rate=20.0 must differ from rate=20.0",
        ),
        ("cycle = 1", "cycle = 1\nbase_rate = 20", r"base_rate: only used by kind 'retention'"),
        ("cycle = 1", "cycle = 1\nwieght = 2", r"\[objectives.capacity\] wieght: unknown key 'wieght'"),
        (
            "[objectives.capacity]\nrate = 20\nwindow = [1.5, 4.8]\ncycle = 1\n",
            "[objectives]\n",
            r"\[objectives\] needs at least one table",
        ),
        # acquisition
        ('kind = "ucb"', 'kind = "ei"', "kind='ei' is not one of: " + ", ".join(ACQUISITION_KINDS)),
        ('kind = "ucb"', 'kind = "pareto"', r"'pareto' needs at least two objectives, got 1"),
        (
            'kind = "ucb"',
            'kind = "ucb"\nxi = 1.0',
            r"\[acquisition\] xi: only used by kinds 'logei' and 'pi'",
        ),
        ('kind = "ucb"', 'kind = "logei"\nxi = -1.0', r"xi=-1.0 must be ≥ 0"),
        (
            "cycle = 1",
            "cycle = 1\nweight = 2",
            r"\[objectives.capacity\] weight: objective weights are not used",
        ),
        ("batch = 8", "batch = 0", r"batch=0 must be ≥ 1"),
        ("kappa = 2.0", "kappa = -1.0", r"kappa=-1.0 must be ≥ 0"),
        ("min_distance = 0.1", "min_distance = -0.1", r"min_distance=-0.1 must be ≥ 0"),
        ("kappa = 2.0", "kapa = 2.0", r"\[acquisition\] kapa: unknown key 'kapa'; allowed: kind, kappa"),
        ("[acquisition]", "[acquisiton]", r"missing table \[acquisition\]"),
        (
            "batch = 8",
            'batch = 8\nfeasibility = "yes"',
            r"\[acquisition\] feasibility: expected true or false",
        ),
        (
            'description = "',
            'max_pending_days = 0\ndescription = "',
            r"\[campaign\] max_pending_days: .* > 0",
        ),
        (
            'description = "',
            'max_pending_days = "a week"\ndescription = "',
            r"max_pending_days: expected a finite",
        ),
    ],
)
def test_validation_errors_name_file_key_and_expectation(old: str, new: str, match: str) -> None:
    with pytest.raises(CampaignError, match=match) as info:
        parse_spec(edit(old, new), source="bad.toml")
    assert str(info.value).startswith("bad.toml: ")


def test_bounds_are_snapped_to_the_grid() -> None:
    spec = parse_spec(edit("li = { min = 1.1, max = 1.3 }", "li = { min = 1.1000000000001, max = 1.3 }"))
    assert spec.li_min == 1.1


@pytest.mark.parametrize("name", ["he-drx.toml", "li-mn-o-f.toml"])
def test_shipped_campaign_files_load(name: str) -> None:
    spec = load_spec(CAMPAIGNS / name)
    assert spec.name == name.removesuffix(".toml")
    assert spec.objectives[0].kind == "capacity"


def test_value_objects_check_themselves_outside_the_parser() -> None:
    # dataclasses.replace goes through __post_init__, so a spec can never hold an invalid value
    spec = parse_spec(BASE)
    with pytest.raises(CampaignError, match=r"\[acquisition\] batch: batch=0 must be ≥ 1"):
        replace(spec.acquisition, batch=0)
    with pytest.raises(CampaignError, match=r"window: expected 0 < v_low < v_high"):
        replace(spec.objectives[0], window=(4.8, 1.5))
    with pytest.raises(CampaignError, match=r"min_metals=7 must be ≤ max_metals = 6"):
        replace(spec, min_metals=7)
    with pytest.raises(CampaignError, match=r"7\+ is not a known oxidation state of Ti"):
        Species("Ti", 7, 0.4)
    assert replace(spec.acquisition, kind="random").kind is AcquisitionKind.RANDOM


def test_a_spec_built_in_code_is_identified_by_its_fields() -> None:
    spec = parse_spec(BASE)
    a = replace(spec, text="", sha256="")
    b = replace(spec, text="", sha256="", li_max=1.25)
    assert len(a.sha256) == 64 and a.sha256 != b.sha256


def test_feasibility_and_max_pending_days() -> None:
    spec = parse_spec(BASE)
    assert spec.acquisition.feasibility is True and spec.max_pending_days == 30.0
    spec = parse_spec(edit("batch = 8", "batch = 8\nfeasibility = false"))
    assert spec.acquisition.feasibility is False
    assert (
        parse_spec(edit('description = "', 'max_pending_days = 14\ndescription = "')).max_pending_days == 14
    )
    with pytest.raises(CampaignError, match="feasibility='no' must be true or false"):
        replace(spec.acquisition, feasibility="no")
    with pytest.raises(CampaignError, match="max_pending_days=-1"):
        replace(spec, max_pending_days=-1)
