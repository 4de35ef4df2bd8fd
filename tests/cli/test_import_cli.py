"""`drxlab import` end to end: real data in, bad data rejected with the database unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import store_digest, without_store_line
from tests.factories import drx_td_doc, write_cycler, write_drx_td

pytestmark = pytest.mark.both_backends  # every test using `run` runs on SQLite and PostgreSQL


def test_help_lists_commands(run) -> None:
    out = run("--help").output
    for cmd in ("import", "materials", "tests", "export", "init"):
        assert cmd in out


def test_lmto_import_shows_ten_profiles_and_cycle1_capacity(run, upstream: Path) -> None:
    r = run("import", upstream / "LMTO_example.csv")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(run("tests", "--json").output)
    assert row["formula"] == "Li1.2Mn0.4Ti0.4O2"
    assert row["profiles"] == 10
    assert abs(row["capacity_cycle1_mAh_g"] - 250.317) < 1.0


def test_reimport_is_a_noop_with_a_message(run, upstream: Path, db_url: str) -> None:
    run("import", upstream / "LMTO_example.csv")
    before = store_digest(db_url)
    r = run("import", upstream / "LMTO_example.csv")
    assert r.exit_code == 0
    assert "already imported" in r.output
    assert store_digest(db_url) == before


def test_export_round_trips_through_import(run, upstream: Path, tmp_path: Path, new_url) -> None:
    run("import", upstream / "LMTO_example.csv")
    out = tmp_path / "export.csv"
    assert run("export", "-o", out).exit_code == 0
    other = new_url("other")
    assert run("import", out, db=other).exit_code == 0
    (row,) = json.loads(run("tests", "--json", db=other).output)
    assert row["profiles"] == 10 and abs(row["capacity_cycle1_mAh_g"] - 250.317) < 1e-3


def _bad_files(tmp_path: Path, upstream: Path) -> dict[str, tuple[Path, list[str], str]]:
    """name -> (file, extra args, expected message fragment)."""

    def doc_file(name: str, **changes) -> Path:
        d = drx_td_doc()
        d.update(changes)
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(d))
        return p

    nan = drx_td_doc()
    nan["discharge_list"][0]["Q_std"][3] = float("nan")
    (tmp_path / "nan.json").write_text(json.dumps(nan))
    neg = drx_td_doc()
    neg["discharge_list"][0]["Q_std"] = [-1.0 - x for x in neg["discharge_list"][0]["Q_std"]]
    (tmp_path / "neg.json").write_text(json.dumps(neg))
    few = drx_td_doc()
    few["discharge_list"][0].update(V_std=[2, 3], Q_std=[1, 0], dQdV_std=[-1, -1])
    (tmp_path / "few.json").write_text(json.dumps(few))
    text = (upstream / "LMTO_example.csv").read_text()
    (tmp_path / "trunc.csv").write_text(text[: len(text) // 3].rsplit(",", 2)[0])
    (tmp_path / "semi.csv").write_text(text.replace(",", ";"))
    (tmp_path / "empty.csv").write_text("")
    return {
        "unparseable": (doc_file("unparse", composition="Li1.2Mn0.4))Ti"), [], "composition"),
        "unknown element": (
            doc_file("unknown", composition={"Li": 1.2, "Qz": 0.8, "O": 2}),
            [],
            "composition",
        ),
        "unbalanced": (
            doc_file("unbal", composition={"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 1.2}),
            [],
            "charge-balanced",
        ),
        "nan": (tmp_path / "nan.json", [], "non-finite"),
        "negative": (tmp_path / "neg.json", [], "negative"),
        "window": (doc_file("window", **{"high_voltage(V)": 3.5}), [], "outside the declared window"),
        "too few": (tmp_path / "few.json", [], "need at least"),
        "empty": (tmp_path / "empty.csv", [], "empty"),
        "truncated": (tmp_path / "trunc.csv", [], "row"),
        "wrong delimiter": (tmp_path / "semi.csv", ["--format", "drxnet-csv"], "delimited"),
        "cycler without mass": (
            write_cycler(tmp_path / "cell.csv"),
            ["--composition", "Li1.2Mn0.4Ti0.4O2"],
            "active-mass",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unparseable",
        "unknown element",
        "unbalanced",
        "nan",
        "negative",
        "window",
        "too few",
        "empty",
        "truncated",
        "wrong delimiter",
        "cycler without mass",
    ],
)
def test_bad_input_one_message_nonzero_exit_database_unchanged(
    run, upstream: Path, tmp_path: Path, db_url: str, case: str
) -> None:
    run("import", upstream / "LMTO_example.csv")
    path, extra, fragment = _bad_files(tmp_path, upstream)[case]
    before = store_digest(db_url)
    r = run("import", path, *extra)
    assert r.exit_code != 0
    assert without_store_line(r.output).startswith("Error: ") and fragment in r.output
    assert path.name in r.output
    assert store_digest(db_url) == before


def test_allow_unbalanced_imports_an_unbalanced_composition(run, tmp_path: Path) -> None:
    path = tmp_path / "u.json"
    path.write_text(json.dumps(drx_td_doc(composition={"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 1.2})))
    r = run("import", path)
    assert r.exit_code != 0 and "check the formula; pass --allow-unbalanced if it is right" in r.output
    assert run("import", path, "--allow-unbalanced").exit_code == 0


def test_multi_file_import_is_all_or_nothing_unless_keep_going(run, tmp_path: Path, db_url: str) -> None:
    d = tmp_path / "batch"
    d.mkdir()
    for i in range(6):
        write_drx_td(d / f"f{i}.json", cap=200.0 + i)
    bad = drx_td_doc()
    bad["discharge_list"][0]["Q_std"][0] = float("nan")
    (d / "f6.json").write_text(json.dumps(bad))
    before = store_digest(db_url)
    r = run("import", d)
    assert r.exit_code != 0 and "f6.json" in r.output
    assert store_digest(db_url) == before
    # issue 19 item 8: the good files go in, but a rejected file makes the exit code non-zero
    r = run("import", d, "--keep-going")
    assert r.exit_code == 1 and "f6.json" in r.output, r.output
    assert "imported 6 file(s)" in r.output and "1 of 7 file(s) rejected" in r.output
    assert len(json.loads(run("tests", "--json").output)) == 6


def test_cycler_import_with_mass(run, tmp_path: Path) -> None:
    path = write_cycler(tmp_path / "cell.csv", mass_g=0.003)
    r = run(
        "import",
        path,
        "--composition",
        "Li1.2Mn0.4Ti0.4O2",
        "--active-mass",
        "0.003",
        "--instrument",
        "Arbin",
    )
    assert r.exit_code == 0, r.output
    (row,) = json.loads(run("tests", "--json").output)
    assert row["profiles"] == 2 and 200 < row["capacity_cycle1_mAh_g"] < 240
