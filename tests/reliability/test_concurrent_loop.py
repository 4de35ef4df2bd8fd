"""Four lab members logging results into one store (SQLite or PostgreSQL) while a fifth runs
`suggest`: no lost rows, no "database is locked" reaching anyone, the same final state as logging
one after another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from drxlab.chem.compositions import amounts
from drxlab.cli.main import cli
from drxlab.store.transfer import copy_store
from tests.conftest import BACKENDS, query
from tests.factories import campaign_toml, write_drx_td

ROOT = Path(__file__).resolve().parents[2]
SPECIES = {"Mn3+": 0.4, "Cr3+": 0.2, "Ti4+": 0.3, "Nb5+": 0.2}
WORKER = textwrap.dedent("""
    import sys, time
    from drxlab.cli.main import cli
    db, start, args = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    time.sleep(max(0.0, start - time.time()))
    commands = [c.split("|") for c in args]
    for c in commands:
        try:
            cli.main(["--db", db, *c], prog_name="drxlab", standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise
""")


def _invoke(db: Path | str, *args: str) -> str:
    r = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def _state(db: Path | str) -> tuple:
    rows = sorted(
        (i, st, f, None if q is None else round(q, 6))
        for i, st, f, q in query(
            db,
            "SELECT s.id, s.status, m.formula, p.capacity FROM sample s "
            "JOIN material m ON m.id = s.material_id "
            "LEFT JOIN electrochemtest t ON t.sample_id = s.id LEFT JOIN profile p ON p.test_id = t.id "
            "WHERE s.status != 'proposed'",
        )
    )
    ((suggestions,),) = query(db, "SELECT COUNT(*) FROM suggestion")
    return rows, suggestions


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_four_loggers_and_a_suggest_at_once(tmp_path: Path, new_url) -> None:
    base = tmp_path / "base.sqlite"
    spec_a, spec_b = tmp_path / "a.toml", tmp_path / "b.toml"
    spec_a.write_text(campaign_toml("conc-a", SPECIES, metals=(2, 3), batch=8, min_distance=0.05))
    spec_b.write_text(campaign_toml("conc-b", SPECIES, metals=(2, 3), batch=8, min_distance=0.05))
    _invoke(base, "lab", "seed", "--n", "6", "--classes", "2TM", "--seed", "4")
    _invoke(base, "train", "--members", "2", "--epochs", "1", "--size", "small", "--include-virtual")
    _invoke(base, "suggest", "--campaign", str(spec_a), "-n", "8")
    waiting = json.loads(_invoke(base, "status", "--campaign", "conc-a", "--json"))["waiting"]
    assert len(waiting) == 8
    jobs = []
    for k, w in enumerate(waiting):
        f = write_drx_td(
            tmp_path / f"s{w['sample_id']}.json", composition=amounts(w["formula"]), cap=200.0 + k
        )
        jobs.append(f"log|--sample|{w['sample_id']}|{f}")
    sequential, parallel = new_url("seq"), new_url("par")
    copy_store(base, sequential)
    copy_store(base, parallel)
    for j in jobs:
        _invoke(sequential, *j.split("|"))
    _invoke(sequential, "suggest", "--campaign", str(spec_b), "-n", "4")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    start = time.time() + 4.0
    groups = [jobs[i::4] for i in range(4)] + [[f"suggest|--campaign|{spec_b}|-n|4"]]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, parallel, str(start), *g],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for g in groups
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
        assert "locked" not in out.lower()
    assert _state(parallel) == _state(sequential)
    rows, suggestions = _state(parallel)
    logged = {w["sample_id"] for w in waiting}
    assert {r[0] for r in rows if r[1] == "tested"} >= logged and suggestions == 12
