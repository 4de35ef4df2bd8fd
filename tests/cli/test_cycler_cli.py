"""`drxlab import / inspect / log` on real cycler files; bad files leave the store unchanged."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED, db_digest, require_binary, require_shared

FILES = SHARED / "cycler-files"
JDB = "biologic-mpr/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
COMP = ["--composition", "Li1.2Mn0.4Ti0.4O2"]


def _f(rel: str) -> Path:
    return require_shared(FILES / rel)


def test_import_biologic_mpr_then_export_round_trips(run, tmp_path: Path) -> None:
    r = run("import", _f(JDB), *COMP, "--active-mass", "0.005")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(run("tests", "--json").output)
    assert row["profiles"] == 6 and (row["v_low_V"], row["v_high_V"]) == (2.0, 3.8)
    assert row["capacity_cycle1_mAh_g"] == pytest.approx(0.853 / 0.005, rel=0.01)
    out = tmp_path / "export.csv"
    assert run("export", "-o", out).exit_code == 0
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 * 100  # DRXNet-standard: 100 points per cycle
    r = run("import", out, db=tmp_path / "again.sqlite")
    assert r.exit_code == 0, r.output
    (again,) = json.loads(run("tests", "--json", db=tmp_path / "again.sqlite").output)
    assert again["capacity_cycle1_mAh_g"] == pytest.approx(row["capacity_cycle1_mAh_g"], rel=1e-3)


def test_keep_initial_discharge_counts_the_partial_one(run) -> None:
    assert run("import", _f(JDB), *COMP, "--active-mass", "0.005", "--keep-initial-discharge").exit_code == 0
    (row,) = json.loads(run("tests", "--json").output)
    assert row["profiles"] == 7
    assert row["capacity_cycle1_mAh_g"] == pytest.approx(0.2065 / 0.005, rel=0.02)


def test_inspect_json_shows_format_units_segments_and_notes(run) -> None:
    r = run("inspect", _f(JDB), "--active-mass", "0.005", "--json")
    assert r.exit_code == 0, r.output
    (d,) = json.loads(r.output)
    assert d["format"] == "biologic-mpr" and d["reader"] == "datalab-org-galvani"
    assert d["cycles"] == 6 and d["charge_cutoff_V"] == pytest.approx(3.8, abs=0.01)
    assert d["segments"][0]["kind"] == "initial" and d["segments"][1]["Q_mAh_g"] == pytest.approx(
        170.6, rel=0.01
    )
    assert "dq/dt" in d["units"]["current"] and any("partial discharge" in n for n in d["notes"])
    text = run("inspect", _f("neware-csv/neware_uio.csv")).output
    assert (
        "2250.2" in text and "Q (mAh/g)" in text and "implied by the file's DChg. Spec. Cap.(mAh/g)" in text
    )


def test_log_accepts_an_instrument_file_directly(run) -> None:
    r = run(
        "log",
        _f("biologic-mpt/gcpl.issue_226.I.mpt"),
        "--composition",
        "Li1.2Mn0.4Ti0.4O2",
        "--campaign",
        "c1",
        "--window",
        "-0.25",
        "0.1",
        "--json",
    )
    assert r.exit_code != 0  # its window is below 0 V: a polymer test cell, refused by the DRX checks
    assert r.output.startswith("Error: ")
    r = run(
        "log",
        _f("neware-ndax/test.ndax"),
        "--composition",
        "Li1.2Mn0.4Ti0.4O2",
        "--campaign",
        "c1",
        "--active-mass",
        "0.003",
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["status"] == "tested" and out["measured_mAh_g"] == pytest.approx(0.6255 / 0.003, rel=0.01)


def _bad(tmp_path: Path) -> dict[str, tuple[Path, list[str], str]]:
    jdb = _f(JDB)
    cut_mpr = tmp_path / "half.mpr"
    cut_mpr.write_bytes(jdb.read_bytes()[: jdb.stat().st_size // 2])
    ndax = _f("neware-ndax/test.ndax").read_bytes()
    (tmp_path / "half.ndax").write_bytes(ndax[: len(ndax) // 2])
    nda = _f("neware-nda/TestFile.nda").read_bytes()
    (tmp_path / "half.nda").write_bytes(nda[: len(nda) // 2])
    renamed = tmp_path / "renamed.nda"
    renamed.write_bytes(jdb.read_bytes())
    (tmp_path / "novolt.csv").write_text("Test_Time(s),Current(mA)\n0,1\n1,-1\n")
    (tmp_path / "unknown.csv").write_text("Zeit,Spannung,Strom\n0,3.1,0.1\n1,3.2,0.1\n")
    mass = ["--active-mass", "0.003"]
    return {
        "truncated mpr": (cut_mpr, COMP + mass, "truncated"),
        "truncated ndax": (tmp_path / "half.ndax", COMP + mass, "truncated"),
        "truncated nda": (tmp_path / "half.nda", COMP + mass, "truncated"),
        "renamed": (renamed, COMP + mass, "was the file renamed"),
        "no voltage column": (
            tmp_path / "novolt.csv",
            COMP + mass,
            "columns seen: ['Test_Time(s)', 'Current(mA)']",
        ),
        "mass contradicts header": (
            _f("biologic-mpt/gcpl.issue_211.mpt"),
            COMP + ["--active-mass", "0.002"],
            "contradicts the EC-Lab header's 'Mass of active material' (0.00079 g)",
        ),
        "unknown layout": (
            tmp_path / "unknown.csv",
            COMP + mass,
            "names understood for time/voltage/current",
        ),
        "rest only": (
            _f("neware-ndax/123456789012_Unit27_Example_Data_File.ndax"),
            COMP + mass,
            "no discharge segment",
        ),
        "charge only": (_f("biologic-mpr/biol.mpr"), COMP + mass, "charge only"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "truncated mpr",
        "truncated ndax",
        "truncated nda",
        "renamed",
        "no voltage column",
        "mass contradicts header",
        "unknown layout",
        "rest only",
        "charge only",
    ],
)
def test_bad_cycler_file_one_line_nonzero_exit_store_unchanged(
    run, db_path: Path, tmp_path: Path, case: str
) -> None:
    assert run("import", _f("neware-ndax/test.ndax"), *COMP, "--active-mass", "0.003").exit_code == 0
    path, args, fragment = _bad(tmp_path)[case]
    before = db_digest(db_path)
    r = run("import", path, *args)
    assert r.exit_code != 0
    assert r.output.startswith("Error: ") and r.output.count("\n") == 1, r.output
    assert fragment in r.output and path.name in r.output
    assert db_digest(db_path) == before


def test_truncated_res_and_missing_mdb_export_are_clear(run, tmp_path: Path, monkeypatch) -> None:

    require_binary("mdb-export")  # Debian package mdbtools
    res = _f("arbin-res/arbin_example.res").read_bytes()
    cut = tmp_path / "half.res"
    cut.write_bytes(res[: len(res) // 2])
    r = run("import", cut, *COMP, "--active-mass", "0.003")
    assert r.exit_code != 0 and "truncated or damaged" in r.output and r.output.count("\n") == 1
    from drxlab.profiles.readers import arbin_res

    monkeypatch.setattr(arbin_res, "MDB_EXPORT", "mdb-export-not-installed")
    r = run("inspect", _f("arbin-res/arbin_example.res"))
    assert r.exit_code != 0 and "apt-get install mdbtools" in r.output


def test_missing_galvani_names_the_extra(run, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "galvani", None)  # import galvani now raises ImportError
    r = run("inspect", _f(JDB))
    assert r.exit_code != 0 and "pip install 'drxlab[biologic]'" in r.output


def test_bench_import_reports_rows_per_second_against_the_library(run) -> None:
    r = run(
        "bench", "import", _f("neware-ndax/test.ndax"), "--active-mass", "0.003", "--repeat", "1", "--json"
    )
    assert r.exit_code == 0, r.output
    (d,) = json.loads(r.output)
    assert d["rows"] == 1464 and d["cycles"] == 1
    assert d["library_rows_per_s"] > 0 and d["full_rows_per_s"] > 0 and d["full_over_library"] >= 1.0
