"""Issue 19: guard rails for real use — each test reproduces one reported problem."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from drxlab.cli.main import cli
from tests.conftest import db_digest, require_shared, without_store_line
from tests.factories import campaign_toml, write_drx_td
from tests.raw_cells import lmto_cycle1, write_raw_cell

LMTO = "Li1.2Mn0.4Ti0.4O2"
PLAN = campaign_toml("plan", {"Mn3+": 0.4, "Ti4+": 0.4}, li=(1.2, 1.2), f=(0.0, 0.0), metals=(2, 2), batch=1)


def invoke(*args: object, db: Path | str | None = None):  # -> click.testing.Result
    """Run drxlab (stdout and stderr apart) with --db when given."""
    runner = CliRunner()
    argv = (["--db", str(db)] if db else []) + [str(a) for a in args]
    return runner.invoke(cli, argv, catch_exceptions=False)


def planned_sample(db: Path, tmp_path: Path, formula: str = LMTO) -> int:
    """A proposed sample of ``formula`` in a campaign planned at 20 mA/g, 1.5–4.8 V; its id."""
    from drxlab.chem import compositions
    from drxlab.store import queries
    from drxlab.store.db import open_store
    from drxlab.workflow import campaigns, ingest

    spec = tmp_path / "plan.toml"
    spec.write_text(PLAN)
    store = open_store(db)
    with store.transaction() as s:
        camp, _, _ = campaigns.add(s, spec)
        amts = compositions.amounts(formula)
        mat = ingest.material(s, compositions.format_formula(amts), amts, compositions.oxidation_states(amts))
        sid = queries.add_sample(s, mat.id, campaign_id=camp.id, status="proposed").id
    store.engine.dispose()
    return sid


# ---------------------------------------------------------------- item 1: train on too little data
def test_train_refuses_too_few_compositions_and_prints_no_nan(run, db_path: Path) -> None:
    upstream = require_shared()
    assert run("import", upstream / "LMTO_example.csv").exit_code == 0
    before = db_digest(db_path)
    r = run("train", "--epochs", "1", "--members", "1", "--size", "small")
    assert r.exit_code == 1
    assert "at least 5 different compositions" in r.output and "the store has 1" in r.output
    assert "Li1.2Mn0.4Ti0.4O2: 1 test(s), 10 profile(s)" in r.output and "drxlab finetune" in r.output
    assert "nan" not in r.output.lower()
    assert db_digest(db_path) == before


@pytest.mark.slow
def test_train_keeps_a_worse_model_out_of_use_unless_make_current(run, db_path: Path) -> None:
    upstream = require_shared()
    assert run("model", "import-drxnet", upstream / "pretrained").exit_code == 0
    assert run("lab", "seed", "--n", "8", "--classes", "2TM", "--seed", "3").exit_code == 0
    # one member of a tiny network after one epoch cannot match the released ensemble
    args = ["train", "--members", "1", "--epochs", "1", "--size", "small", "--include-virtual"]
    r = run(*args)
    assert r.exit_code == 0, r.output
    assert "NOT made current" in r.output and "current model version 1 on the same held-out" in r.output
    assert "nan" not in r.output.lower()
    versions = json.loads(run("model", "list", "--json").output)
    assert [v["current_for"] for v in versions] == [["(lab)"], []]
    r = run(*args, "--make-current")
    assert r.exit_code == 0 and "is now current for the lab" in r.output
    assert json.loads(run("model", "list", "--json").output)[1]["current_for"] == ["(lab)"]


def test_legacy_metrics_without_a_value_show_as_missing(run, db_path: Path) -> None:
    upstream = require_shared()
    assert run("model", "import-drxnet", upstream / "pretrained").exit_code == 0
    con = sqlite3.connect(db_path)
    con.execute("""UPDATE modelversion SET metrics_json = '{"validation": {"mae": NaN, "n": 0}}'""")
    con.commit(), con.close()
    for args in (["model", "list", "--json"], ["status", "--json"], ["status"], ["model", "list"]):
        r = run(*args)
        assert r.exit_code == 0 and "nan" not in without_store_line(r.output).lower(), (args, r.output)
    assert json.loads(run("model", "list", "--json").output)[0]["metrics"]["validation"]["mae"] is None


# ---------------------------------------------------------------- item 2: window of a raw cycler file
def test_log_of_a_raw_file_takes_the_window_from_the_charge_cut_off(
    run, db_path: Path, tmp_path: Path
) -> None:
    v, q = lmto_cycle1(require_shared())
    assert v[0] == pytest.approx(4.74)  # the IR drop: the discharge starts below the 4.8 V cut-off
    sid = planned_sample(db_path, tmp_path)
    cell = write_raw_cell(tmp_path / "cell12.csv", v, q, mass_g=0.0021)
    r = run("log", "--sample", sid, cell, "--active-mass", "0.0021", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["measured_mAh_g"] == pytest.approx(250.3, abs=3)
    (t,) = json.loads(run("tests", "--json").output)
    assert (t["rate_mA_g"], t["v_low_V"], t["v_high_V"]) == (20.0, 1.5, 4.8)


def test_discharge_only_file_is_accepted_within_the_ir_drop(run, db_path: Path, tmp_path: Path) -> None:
    v, q = lmto_cycle1(require_shared())
    sid = planned_sample(db_path, tmp_path)
    cell = write_raw_cell(tmp_path / "discharge.csv", v, q, charge_to=None)
    r = run("log", "--sample", sid, cell, "--active-mass", "0.0021")
    assert r.exit_code == 0, r.output


def test_window_mismatch_says_what_the_file_shows(run, db_path: Path, tmp_path: Path) -> None:
    v, q = lmto_cycle1(require_shared())
    sid = planned_sample(db_path, tmp_path)
    keep = v <= 4.3
    cell = write_raw_cell(tmp_path / "low.csv", v[keep], q[keep] - q[keep].min(), charge_to=4.4)
    before = db_digest(db_path)
    r = run("log", "--sample", sid, cell, "--active-mass", "0.0021")
    assert r.exit_code == 1
    msg = without_store_line(r.output)
    assert msg.startswith("Error:") and "charge up to 4.400 V" in msg and "down to 1.529 V" in msg
    assert "20 mA/g" in msg and "planned at 20 mA/g, 1.5–4.8 V" in msg
    assert db_digest(db_path) == before


# ---------------------------------------------------------------- item 4: plausibility and duplicates
def test_mass_typed_in_mg_is_refused_unless_forced(run, db_path: Path, tmp_path: Path) -> None:
    v, q = lmto_cycle1(require_shared())
    sid = planned_sample(db_path, tmp_path)
    cell = write_raw_cell(tmp_path / "cell.csv", v, q, mass_g=0.0021)
    before = db_digest(db_path)
    r = run("log", "--sample", sid, cell, "--active-mass", "2.1")  # 2.1 mg typed as g
    assert r.exit_code == 1
    assert "active mass 2.1 g is implausible" in r.output and "typed in mg" in r.output
    assert "an active mass of 0.0021 g" in r.output and "pass --force if the value is right" in r.output
    assert db_digest(db_path) == before
    r = run("log", "--sample", sid, cell, "--active-mass", "2.1", "--force", "--rate", "20", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["measured_mAh_g"] < 1


def test_implausible_capacity_on_import_names_value_and_cause(run, db_path: Path, tmp_path: Path) -> None:
    path = write_drx_td(tmp_path / "tiny.json", cap=0.3)
    before = db_digest(db_path)
    r = run("import", path)
    assert r.exit_code == 1 and "cycle 1 capacity 0.2" in r.output and "20–450 mAh/g" in r.output
    assert db_digest(db_path) == before
    assert run("import", path, "--force").exit_code == 0


def test_the_same_file_logged_for_another_sample_is_refused(run, db_path: Path, tmp_path: Path) -> None:
    v, q = lmto_cycle1(require_shared())
    first = planned_sample(db_path, tmp_path)
    second = planned_sample(db_path, tmp_path, "Li1.2Mn0.2Ti0.6O2")
    cell = write_raw_cell(tmp_path / "cell.csv", v, q)
    assert run("log", "--sample", first, cell, "--active-mass", "0.0021").exit_code == 0
    copy = tmp_path / "cell-copy.csv"
    copy.write_bytes(cell.read_bytes())
    before = db_digest(db_path)
    r = run("log", "--sample", second, copy, "--active-mass", "0.0021", "--composition", LMTO)
    assert r.exit_code == 1
    assert "already in the store" in r.output and f"another sample {first} ({LMTO})" in r.output
    assert db_digest(db_path) == before
    # the same sample's own file again: refused, unless it replaces that sample's results
    assert run("log", "--sample", first, cell, "--active-mass", "0.0021").exit_code == 1
    r = run("log", "--sample", first, cell, "--active-mass", "0.0022", "--replace")
    assert r.exit_code == 0, r.output


# ---------------------------------------------------------------- item 5: virtual data stays apart
def test_virtual_tests_are_flagged_and_left_out(run, db_path: Path, tmp_path: Path) -> None:
    upstream = require_shared()
    assert run("import", upstream / "LMTO_example.csv").exit_code == 0
    assert run("lab", "seed", "--n", "6", "--classes", "2TM", "--seed", "1").exit_code == 0
    n_virtual = sum(t["virtual"] for t in json.loads(run("tests", "--json").output))
    assert n_virtual > 0
    out = tmp_path / "p.csv"
    r = run("export", "-o", out)
    assert r.exit_code == 0 and f"left out {n_virtual} virtual-lab test(s)" in r.output
    assert {ln.split(",")[1] for ln in out.read_text().splitlines()[1:]} == {LMTO}
    assert run("export", "-o", out, "--include-virtual").exit_code == 0
    assert len({ln.split(",")[0] for ln in out.read_text().splitlines()[1:]}) == n_virtual + 1
    r = run("materials")
    assert "virtual tests" in r.output
    assert json.loads(run("materials", "--json").output)[0]["virtual_tests"] == 0
    r = run("status")
    assert f"tests: 1 measured, {n_virtual} virtual" in r.output
    r = run("train", "--epochs", "1")  # only one real composition: the virtual ones are not used
    assert r.exit_code == 1 and "the store has 1" in r.output and "virtual-lab test(s) left out" in r.output


def test_report_marks_virtual_measurements(run, db_path: Path, tmp_path: Path) -> None:
    spec = tmp_path / "plan.toml"
    spec.write_text(PLAN)
    assert run("campaign", "add", spec).exit_code == 0
    assert run("lab", "measure", LMTO, "--campaign", "plan", "--cycles", "1").exit_code == 0
    out = tmp_path / "r.md"
    r = run("report", "--campaign", "plan", "--out", out)
    assert r.exit_code == 0, r.output
    assert "virtual lab" in out.read_text()


# ---------------------------------------------------------------- item 6: which store, and never a new one
@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["materials"],
        ["tests"],
        ["model", "list"],
        ["campaign", "list"],
        ["export"],
        ["report", "--campaign", "he-drx"],
        ["predict", LMTO],
        ["train"],
        ["finetune"],
    ],
)
def test_read_only_commands_never_create_a_store(args, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRXLAB_DB", raising=False)
    r = invoke(*args)
    assert r.exit_code == 1
    assert f"no store at {tmp_path / 'db' / 'drxlab.sqlite'}" in r.output and "drxlab init" in r.output
    assert not (tmp_path / "db").exists()


def test_every_command_names_its_store_unless_quiet(db_path: Path) -> None:
    r = invoke("status", db=db_path)
    assert r.exit_code == 0 and r.stderr.splitlines()[0] == f"store: {db_path}"
    assert "store:" not in invoke("-q", "status", db=db_path).output
    r = invoke("status", "--json", db=db_path)
    assert json.loads(r.output)["samples"]["tested"] == 0  # --json: stdout and stderr stay clean JSON


def test_store_messages_hide_passwords_and_name_a_folder(tmp_path: Path) -> None:
    r = invoke("status", db="postgresql://chemist:s3cret@127.0.0.1:9/lab")
    # one line naming the server, the user and what failed; never the password
    assert (
        r.exit_code == 1 and "s3cret" not in r.output and "127.0.0.1:9" in r.output and "chemist" in r.output
    )
    assert len(r.output.strip().splitlines()) == 1
    r = invoke("status", db=tmp_path)
    assert r.exit_code == 1 and "is a folder, not a database file" in r.output
    assert "unable to open database file" not in r.output


def test_campaign_files_are_found_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRXLAB_DB", raising=False)
    for ref in ("campaigns/he-drx.toml", "he-drx"):
        r = invoke("candidates", "--campaign", ref, "--count")
        assert r.exit_code == 0 and r.stdout.strip() == "54297", r.output
    r = invoke("candidates", "--campaign", "campaigns/nope.toml", "--count")
    assert r.exit_code == 1 and "nope" in r.output and "not found" in r.output
    assert not (tmp_path / "db").exists()


# ---------------------------------------------------------------- item 8: rough edges
def test_neware_csv_error_names_field_and_value(run, db_path: Path, tmp_path: Path) -> None:
    path = require_shared(
        Path(__file__).resolve().parents[3] / "shared" / "cycler-files" / "neware-csv" / "neware_uio.csv"
    )
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    cells = lines[3].split(",")
    cells[7] = "2.9x81"  # a typo in the voltage column of the third data row
    lines[3] = ",".join(cells)
    bad = tmp_path / "neware_typo.csv"
    bad.write_text("\n".join(lines), encoding="utf-8")
    before = db_digest(db_path)
    r = run("import", bad, "--composition", LMTO, "--active-mass", "0.00208")
    assert r.exit_code == 1
    assert "data row 3" in r.output and "'Voltage(V)'" in r.output and "'2.9x81'" in r.output
    assert db_digest(db_path) == before


def test_predict_flags_elements_outside_the_drx_data(run, db_path: Path) -> None:
    upstream = require_shared()
    assert run("model", "import-drxnet", upstream / "pretrained").exit_code == 0
    r = run("predict", LMTO, "Li1.2Tl0.4Ti0.4O2", "Li1.2Po0.4Ti0.4O2", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["domain"] for x in rows] == ["in-domain"] + ["out-of-domain: elements outside the DRX data"] * 2
    assert [x["foreign_elements"] for x in rows] == [[], ["Tl"], ["Po"]]
    r = run("predict", "Li1.2Tl0.4Ti0.4O2")
    assert "out-of-domain" in r.stdout and "contains Tl" in r.stderr
