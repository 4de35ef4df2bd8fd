"""`drxlab log`, `finetune` and `status` on a virtual campaign with a tiny trained ensemble."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from drxlab.cli.main import cli
from drxlab.store.db import open_store
from drxlab.store.tables import ModelVersion
from tests.conftest import query, store_digest, without_store_line
from tests.factories import campaign_toml, write_drx_td

pytestmark = pytest.mark.both_backends  # every test using `run` runs on SQLite and PostgreSQL

CAMPAIGN = campaign_toml(
    "loop", {"Mn3+": 0.3, "Cr3+": 0.2, "Ti4+": 0.3, "Nb5+": 0.2}, li=(1.15, 1.25), f=(0.0, 0.05), batch=3
)


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory) -> tuple[Path, Path]:
    """A store seeded from the synthetic lab, with a tiny 3-member ensemble and 3 suggestions."""
    d = tmp_path_factory.mktemp("loop")
    db, spec = d / "base.sqlite", d / "loop.toml"
    spec.write_text(CAMPAIGN)
    runner = CliRunner()
    for args in (
        ["lab", "seed", "--n", "10", "--classes", "2TM", "--seed", "1"],
        ["train", "--members", "3", "--epochs", "2", "--size", "small", "--include-virtual"],
        ["suggest", "--campaign", str(spec), "-n", "3"],
    ):
        r = runner.invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
    return db, spec


@pytest.fixture
def loop(trained_store, tmp_path: Path, backend: str, new_url):
    base, _spec = trained_store
    if backend == "sqlite":
        db = tmp_path / "loop.sqlite"
        src, dst = sqlite3.connect(base), sqlite3.connect(db)
        src.backup(dst)
        src.close(), dst.close()
    else:
        from drxlab.store.transfer import copy_store

        db = new_url("loop")
        copy_store(base, db)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, ["--db", str(db), *map(str, args)], catch_exceptions=False)

    run.db = db
    return run


def _waiting(run) -> list[dict]:
    return json.loads(run("status", "--json").output)["waiting"]


def _measured_file(tmp_path: Path, formula: str, **kw) -> Path:
    from drxlab.chem.compositions import amounts

    return write_drx_td(tmp_path / f"{formula}.json", composition=amounts(formula), **kw)


def test_log_moves_sample_to_tested_and_reports_z(loop, tmp_path: Path) -> None:
    w = _waiting(loop)
    assert len(w) == 3 and {x["status"] for x in w} == {"proposed"}
    path = _measured_file(tmp_path, w[0]["formula"], cycles=2, cap=230.0)
    r = loop("log", "--sample", w[0]["sample_id"], path, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["status"] == "tested" and out["predicted_mAh_g"] == pytest.approx(w[0]["predicted_mAh_g"])
    assert out["z"] == pytest.approx((out["measured_mAh_g"] - out["predicted_mAh_g"]) / out["sigma_mAh_g"])
    assert len(_waiting(loop)) == 2


def test_log_failed_is_recorded(loop) -> None:
    w = _waiting(loop)
    r = loop("log", "--failed", "--sample", w[1]["sample_id"], "--reason", "impurity phase in XRD")
    assert r.exit_code == 0
    st = json.loads(loop("status", "--json").output)
    assert st["samples"]["failed"] == 1


def test_log_then_finetune_registers_child_version(loop, tmp_path: Path) -> None:
    w = _waiting(loop)
    before = json.loads(loop("model", "list", "--json").output)
    path = _measured_file(tmp_path, w[0]["formula"], cycles=1)
    r = loop("log", "--sample", w[0]["sample_id"], path, "--finetune", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    versions = json.loads(loop("model", "list", "--json").output)
    assert len(versions) == len(before) + 1
    child = versions[-1]
    assert child["parent"] == before[-1]["id"] and child["current_for"] == ["(lab)"]
    assert out["finetune_metrics"]["new_after"]["n"] == 1
    # nothing new any more: a clear no-op, nothing written
    digest = store_digest(loop.db)
    r = loop("finetune")
    assert r.exit_code != 0 and "nothing new" in r.output
    assert store_digest(loop.db) == digest


@pytest.mark.parametrize(
    "case", ["unknown sample", "already tested", "window", "no cycle 1", "wrong composition"]
)
def test_bad_logs_write_nothing(loop, tmp_path: Path, case: str) -> None:
    w = _waiting(loop)
    sid, formula = w[0]["sample_id"], w[0]["formula"]
    if case == "already tested":
        assert loop("log", "--sample", sid, _measured_file(tmp_path, formula)).exit_code == 0
    digest = store_digest(loop.db)
    path = _measured_file(tmp_path, formula, window=(2.0, 4.6) if case == "window" else (1.5, 4.8))
    if case == "no cycle 1":
        doc = json.loads(path.read_text())
        doc["discharge_list"] = doc["discharge_list"][1:]
        path.write_text(json.dumps(doc))
    if case == "wrong composition":
        path = _measured_file(tmp_path, "Li1.2Mn0.4Ti0.4O2")
    r = loop("log", "--sample", 999 if case == "unknown sample" else sid, path)
    assert r.exit_code != 0 and without_store_line(r.output).startswith("Error:")
    expected = {
        "unknown sample": "not found",
        "already tested": "--replace",
        "window": "planned",
        "no cycle 1": "no cycle 1",
        "wrong composition": "does not match",
    }[case]
    assert expected in r.output
    assert store_digest(loop.db) == digest


def test_replace_keeps_history(loop, tmp_path: Path) -> None:
    w = _waiting(loop)
    sid, formula = w[0]["sample_id"], w[0]["formula"]
    loop("log", "--sample", sid, _measured_file(tmp_path, formula, cap=200.0))
    p2 = _measured_file(tmp_path, formula, cap=260.0)
    p2.write_text(p2.read_text().replace('"active_mass(g)": 0.0021', '"active_mass(g)": 0.0022'))
    r = loop("log", "--sample", sid, p2, "--replace", "--json")
    assert r.exit_code == 0, r.output
    tests = [t for t in json.loads(loop("tests", "--json").output) if t["formula"] == formula]
    assert len(tests) == 2  # the earlier test is kept as history
    st = json.loads(loop("status", "--json").output)
    assert st["samples"]["replaced"] == 1


def test_log_unsuggested_composition(loop, tmp_path: Path) -> None:
    path = _measured_file(tmp_path, "Li1.2Mn0.4Ti0.4O2")
    r = loop("log", "--composition", "Li1.2Mn0.4Ti0.4O2", "--campaign", "loop", path, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["predicted_mAh_g"] is None


def test_logei_improves_on_the_best_measured_capacity(loop, tmp_path: Path) -> None:
    w = _waiting(loop)
    caps = []
    for k, x in enumerate(w[:2]):
        out = json.loads(
            loop(
                "log",
                "--sample",
                x["sample_id"],
                _measured_file(tmp_path, x["formula"], cap=210.0 + 30 * k),
                "--json",
            ).output
        )
        caps.append(out["measured_mAh_g"])
    spec = tmp_path / "again.toml"
    spec.write_text(CAMPAIGN)
    r = json.loads(loop("suggest", "--campaign", spec, "-n", "2", "--acq", "logei", "--json").output)
    assert r["params"]["best_f"] == pytest.approx(max(caps))


def test_log_finetune_accepts_an_instrument_file_directly(loop) -> None:
    """A Neware .ndax straight from the cycler: read, segmented and fine-tuned on in one command."""
    from tests.conftest import SHARED, require_shared

    path = require_shared(SHARED / "cycler-files" / "neware-ndax" / "test.ndax")
    before = json.loads(loop("model", "list", "--json").output)
    r = loop(
        "log",
        path,
        "--composition",
        "Li1.2Mn0.4Ti0.4O2",
        "--campaign",
        "loop",
        "--active-mass",
        "0.003",
        "--finetune",
        "--json",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["measured_mAh_g"] == pytest.approx(0.6255 / 0.003, rel=0.01)
    assert out["finetuned_version"] is not None
    assert len(json.loads(loop("model", "list", "--json").output)) == len(before) + 1


def test_suggest_sheet_then_log_batch_all_rows_or_none(loop, tmp_path: Path) -> None:
    spec = tmp_path / "loop.toml"
    spec.write_text(CAMPAIGN)
    sheet = tmp_path / "week.csv"
    r = loop("suggest", "--campaign", spec, "-n", "2", "--sheet", sheet, "--json")
    assert r.exit_code == 0, r.output
    import csv

    with open(sheet, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["sample_id", "composition", "file", "active_mass_g", "failed_reason"]
    assert len(rows) == 2 and all(r["sample_id"] and r["composition"] and not r["file"] for r in rows)
    good = _measured_file(tmp_path, rows[0]["composition"], cycles=1)
    rows[0]["file"] = good.name
    rows[1]["failed_reason"] = "impurity phase in XRD"
    bad = dict(rows[1], file="missing.json", failed_reason="")

    def write(rs: list[dict]) -> None:
        with open(sheet, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rs)

    write([rows[0], bad])
    before = store_digest(loop.db)
    r = loop("log", "--batch", sheet)
    assert r.exit_code != 0 and without_store_line(r.output).startswith("Error: ") and "row 3" in r.output
    assert "missing.json" in r.output
    assert store_digest(loop.db) == before
    write(rows)
    r = loop("log", "--batch", sheet, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)["logged"]
    assert [x["status"] for x in out] == ["tested", "failed"]
    assert out[0]["predicted_mAh_g"] is not None


def _sample_row(db, sample_id: int):
    from drxlab.store.db import open_store
    from drxlab.store.tables import Sample

    store = open_store(db, create=False)
    try:
        with store.reader() as s:
            row = s.get(Sample, int(sample_id))
            return row.status, row.failure_reason, row.failure_detail
    finally:
        store.engine.dispose()


def test_log_failed_keeps_reason_and_text(loop) -> None:
    sid = _waiting(loop)[1]["sample_id"]
    r = loop("log", "--failed", "--sample", sid, "--reason", "f_not_incorporated: LiF reflections in XRD")
    assert r.exit_code == 0, r.output
    assert _sample_row(loop.db, sid) == ("failed", "f_not_incorporated", "LiF reflections in XRD")


def test_log_failed_unknown_reason_lists_the_vocabulary_and_writes_nothing(loop) -> None:
    sid = _waiting(loop)[1]["sample_id"]
    digest = store_digest(loop.db)
    r = loop("log", "--failed", "--sample", sid, "--reason", "it broke")
    assert r.exit_code != 0 and r.output.count("Error:") == 1
    assert "unknown failure reason 'it broke'" in r.output
    assert all(
        k in r.output
        for k in ("impurity_phase", "li_loss", "f_not_incorporated", "off_stoichiometry", "other")
    )
    assert store_digest(loop.db) == digest


def test_log_failed_for_a_tested_sample_is_refused_and_writes_nothing(loop, tmp_path: Path) -> None:
    w = _waiting(loop)[0]
    assert loop("log", "--sample", w["sample_id"], _measured_file(tmp_path, w["formula"])).exit_code == 0
    digest = store_digest(loop.db)
    r = loop("log", "--failed", "--sample", w["sample_id"], "--reason", "impurity phase in XRD")
    assert r.exit_code != 0 and "already has 1 test(s)" in r.output and "nothing written" in r.output
    assert store_digest(loop.db) == digest


def test_status_lists_pending_age_and_flags_overdue(loop) -> None:
    from datetime import timedelta

    from drxlab.store.db import open_store
    from drxlab.store.tables import Sample, utcnow

    w = _waiting(loop)
    assert all(0 <= x["age_days"] < 1 and not x["overdue"] and x["max_pending_days"] == 30 for x in w)
    store = open_store(loop.db, create=False)
    with store.transaction() as s:  # the first suggestion has waited 45 days
        smp = s.get(Sample, w[0]["sample_id"])
        smp.created_at = utcnow() - timedelta(days=45)
        s.add(smp)
    store.engine.dispose()
    st = json.loads(loop("status", "--json").output)
    late = [x for x in st["waiting"] if x["overdue"]]
    assert [x["sample_id"] for x in late] == [w[0]["sample_id"]] and 44.9 < late[0]["age_days"] < 45.1
    out = loop("status").output
    assert "age (d)" in out and "45.0 OVERDUE" in out and "1 sample(s) pending longer" in out


# ---------------------------------------------------------------- log --finetune: fit outside the write
def _version_rows(db) -> list[tuple]:
    with open_store(db, create=False).reader() as s:
        return [(v.id, v.sha256, v.parent_id, v.training_json) for v in s.exec(select(ModelVersion))]


@pytest.mark.one_backend  # the same path on both backends; the weights are what is compared
def test_log_finetune_fits_what_log_then_finetune_fits(loop, tmp_path: Path) -> None:
    """The result fine-tuned on before it is written gives the very weights (and recorded test
    ids) of logging it first and fine-tuning on the stored test (4 epochs each: ``log
    --finetune-epochs`` and ``finetune --epochs`` are the same setting)."""
    w = _waiting(loop)
    path = _measured_file(tmp_path, w[0]["formula"], cycles=2)
    twin = tmp_path / "twin.sqlite"
    src, dst = sqlite3.connect(loop.db), sqlite3.connect(twin)
    src.backup(dst)
    src.close(), dst.close()
    r = loop("log", "--sample", w[0]["sample_id"], path, "--finetune", "--finetune-epochs", "4", "--json")
    assert r.exit_code == 0, r.output
    runner = CliRunner()
    for args in (["log", "--sample", str(w[0]["sample_id"]), str(path)], ["finetune", "--epochs", "4"]):
        r = runner.invoke(cli, ["--db", str(twin), *args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
    one, two = _version_rows(loop.db), _version_rows(twin)
    assert len(one) == 2 and one == two
    (newest,) = query(loop.db, "SELECT MAX(id) FROM electrochemtest")[0]
    assert json.loads(one[-1][3])["test_ids"] == [newest]


def _concurrent(db, action):
    """A progress callback that runs ``action(session)`` in another write transaction, once, while
    the fine-tune runs (as a second process would)."""
    done = []

    def progress(_info: dict) -> None:
        if not done:
            done.append(True)
            with open_store(db, create=False).transaction() as s:
                action(s)

    return progress


@pytest.mark.one_backend
@pytest.mark.parametrize("change", ["sample", "model"])
def test_log_finetune_rechecks_what_changed_during_the_fit(loop, tmp_path: Path, change: str) -> None:
    """A sample logged by someone else, or a new current model, while the fine-tune ran: the final
    write refuses with a clear error and writes nothing of the log."""
    from drxlab.exceptions import ModelError, SampleStateError
    from drxlab.workflow import models, results
    from drxlab.workflow.log_results import log_results

    w = _waiting(loop)
    sid = w[0]["sample_id"]
    path = _measured_file(tmp_path, w[0]["formula"], cycles=1)

    def other_writer(s) -> None:
        if change == "sample":
            results.log_failed(s, sid, "cell shorted")
            return
        parent, ens = models.current(s)
        import torch

        with torch.no_grad():
            next(ens.members[0].parameters()).add_(0.01)
        models.register(s, ens, source="trained", parent_id=None, training={}, metrics={}, scope="")

    progress = _concurrent(loop.db, other_writer)
    before_versions = _version_rows(loop.db)
    with pytest.raises(SampleStateError if change == "sample" else ModelError, match="nothing"):
        log_results(
            open_store(loop.db, create=False),
            lambda s: [results.prepare_test(s, path, sample_id=sid)],
            finetune=True,
            progress=progress,
        )
    after = _version_rows(loop.db)
    assert len(after) == len(before_versions) + (change == "model")  # only the other writer's version
    assert query(loop.db, "SELECT COUNT(*) FROM electrochemtest WHERE sample_id = :sid", sid=sid) == [(0,)]
