"""Importers parse the real DRXNet CSV, DRX-TD JSON and raw cycler exports, and reject bad files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drxlab.exceptions import ImportFileError
from drxlab.profiles import importers
from drxlab.profiles.importers import CyclerOptions, read_file
from tests.factories import curve, drx_td_doc, write_cycler, write_drx_td


def test_lmto_csv_is_one_test_with_ten_profiles(upstream: Path) -> None:
    pf = read_file(upstream / "LMTO_example.csv")
    assert pf.format == "drxnet-csv"
    (test,) = pf.tests
    assert test.formula == "Li1.2Mn0.4Ti0.4O2"
    assert [p.cycle for p in test.profiles] == list(range(1, 11))
    with open(upstream / "LMTO_example.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["cycle"] == "1"]
    expected = max(float(r["Qii"]) for r in rows)
    assert abs(test.profiles[0].profile.capacity - expected) < 1.0
    assert 240 < test.profiles[0].profile.capacity < 260
    assert (test.rate, test.v_low, test.v_high) == (20.0, 1.5, 4.8)


def test_drx_td_json_reads_masses_and_cycles(tmp_path: Path) -> None:
    pf = read_file(write_drx_td(tmp_path / "t.json", cycles=4))
    assert pf.format == "drx-td-json"
    (test,) = pf.tests
    assert test.active_mass == pytest.approx(0.0021)
    assert [p.cycle for p in test.profiles] == [1, 2, 3, 4]
    assert test.profiles[0].profile.capacity > test.profiles[3].profile.capacity


@pytest.mark.parametrize("drop_capacity", [False, True])
def test_cycler_capacity_from_column_or_integrated_current(tmp_path: Path, drop_capacity: bool) -> None:
    path = write_cycler(tmp_path / "cell.csv", drop_capacity=drop_capacity, cap_mah_g=230.0, mass_g=0.002)
    pf = read_file(path, cycler=CyclerOptions(composition="Li1.2Mn0.4Ti0.4O2", active_mass=0.002))
    (test,) = pf.tests
    assert pf.format == "cycler-csv"
    assert [p.cycle for p in test.profiles] == [1, 2]
    expected = curve(np.linspace(4.8, 1.5, 200), 230.0).max()
    assert test.profiles[0].profile.capacity == pytest.approx(expected, rel=0.01)
    assert test.rate == pytest.approx(20.0, rel=0.01)


def test_cycler_tsv_is_read(tmp_path: Path) -> None:
    path = write_cycler(tmp_path / "cell.tsv", delimiter="\t")
    pf = read_file(path, cycler=CyclerOptions(composition="Li1.2Mn0.4Ti0.4O2", active_mass=0.002))
    assert len(pf.tests[0].profiles) == 2


def test_cycler_without_active_mass_is_an_error(tmp_path: Path) -> None:
    path = write_cycler(tmp_path / "cell.csv")
    with pytest.raises(ImportFileError, match="states no active mass") as info:
        read_file(path, cycler=CyclerOptions(composition="Li1.2Mn0.4Ti0.4O2"))
    assert info.value.option == "active_mass"


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(composition={"Li": 1.2, "Xq": 0.4, "O": 2}), "composition"),
        (lambda d: d.update(composition={"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 1.0}), "charge-balanced"),
        (lambda d: d["discharge_list"][1]["Q_std"].__setitem__(5, float("nan")), "non-finite"),
        (
            lambda d: d["discharge_list"][0].update(Q_std=[-x - 1 for x in d["discharge_list"][0]["Q_std"]]),
            "negative",
        ),
        (lambda d: d.update({"low_voltage(V)": 2.5}), "outside the declared window"),
        (
            lambda d: d["discharge_list"][0].update(V_std=[1.5, 2.0], Q_std=[1, 0], dQdV_std=[0, 0]),
            "need at least",
        ),
        (lambda d: d.update({"test_current(mA/g)": -20}), "rate"),
        (lambda d: d.pop("discharge_list"), "missing key"),
    ],
)
def test_bad_drx_td_files_are_rejected_with_the_field(tmp_path: Path, mutate, match: str) -> None:
    doc = drx_td_doc()
    mutate(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ImportFileError, match=match) as info:
        read_file(path)
    assert str(path) in str(info.value)


def test_truncated_and_empty_files(tmp_path: Path, upstream: Path) -> None:
    text = (upstream / "LMTO_example.csv").read_text()
    trunc = tmp_path / "trunc.csv"
    trunc.write_text(text[: len(text) // 2].rsplit(",", 3)[0])
    with pytest.raises(ImportFileError, match=r"row \d+"):
        read_file(trunc)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFileError, match="empty"):
        read_file(empty)
    semi = tmp_path / "semi.csv"
    semi.write_text(text.replace(",", ";"))
    with pytest.raises(ImportFileError, match="delimited|not recognised"):
        read_file(semi, "drxnet-csv")
    js = tmp_path / "t.json"
    js.write_text(json.dumps(drx_td_doc())[:500])
    with pytest.raises(ImportFileError, match="truncated"):
        read_file(js)


def test_unknown_format_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="expected one of"):
        read_file(write_drx_td(tmp_path / "t.json"), "xlsx")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 20_000), junk=st.text(max_size=30))
def test_any_corruption_of_a_csv_is_rejected_or_parsed_cleanly(tmp_path: Path, cut: int, junk: str) -> None:
    """Cutting the LMTO file anywhere and appending junk never crashes with a non-drxlab error."""
    from tests.conftest import UPSTREAM, require_shared

    text = (require_shared(UPSTREAM) / "LMTO_example.csv").read_text()
    path = tmp_path / "cut.csv"
    path.write_text(text[:cut] + junk)
    try:
        pf = read_file(path, "drxnet-csv")
    except ImportFileError as exc:
        assert str(path) in str(exc)
    else:
        assert all(np.isfinite(p.profile.capacity) for t in pf.tests for p in t.profiles)


def test_directory_expansion_finds_data_files(tmp_path: Path) -> None:
    for i in range(3):
        write_drx_td(tmp_path / f"t{i}.json", cap=200 + i)
    (tmp_path / "notes.md").write_text("x")
    assert len(importers.expand([tmp_path])) == 3
