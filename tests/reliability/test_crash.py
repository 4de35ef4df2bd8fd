"""SIGKILL `drxlab import` at random moments: the store (SQLite or PostgreSQL) is always sound and
never half-written.

The import writes all files in one transaction, so after any kill the store holds either none
or all of them, each test with every profile of its source file, and it still opens. PostgreSQL
gets fewer trials (each re-creates the database from a template): its transactions are the
server's, so the trials check drxlab's transaction boundaries rather than the file format.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drxlab.store.db import open_store
from tests.conftest import BACKENDS, query
from tests.factories import write_drx_td
from tests.reliability.crash_harness import kill_trials, run_once

N_FILES = 30


def cycles_of(i: int) -> int:
    return 1 + i % 5


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    for i in range(N_FILES):
        write_drx_td(d / f"f{i:02d}.json", cycles=cycles_of(i), cap=150.0 + 3 * i)
    return d


def check_import(db: Path | str) -> None:
    """Integrity ok; all-or-nothing; every test has all its source file's cycles; store opens."""
    if "://" not in str(db):
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
        assert query(db, "PRAGMA foreign_key_check") == []
    files = dict(query(db, "SELECT sha256, name FROM sourcefile"))
    tests = query(
        db,
        "SELECT t.id, t.source_file, t.source_sha256, COUNT(p.id) FROM electrochemtest t "
        "LEFT JOIN profile p ON p.test_id = t.id GROUP BY t.id",
    )
    ((audits,),) = query(db, "SELECT COUNT(*) FROM auditlog")
    assert len(files) in (0, N_FILES), f"partial import: {len(files)} of {N_FILES} files"
    assert len(tests) == len(files) and audits == (1 if files else 0)
    assert {sha for _, _, sha, _ in tests} == set(files)  # no source-file row without its test, and back
    for _tid, name, _sha, n_profiles in tests:
        assert n_profiles == cycles_of(int(name[1:3])), f"{name}: {n_profiles} profiles"
    open_store(db).engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_import_survives_sigkill_anywhere(db_url: str, backend: str, data_dir: Path) -> None:
    db_path = db_url
    args = ["import", str(data_dir)]
    trials, batch = [], 0
    wanted = 12 if backend == "sqlite" else 8  # as the loop commands (test_crash_loop.py)
    # batches of 6 (each re-measures the command's duration under the current machine load),
    # alternating kills anywhere in the run and kills aimed at its final write, until ≥ `wanted`
    # trials have killed the command mid-run
    while sum(not t.finished for t in trials) < wanted and batch < 10:
        span = (0.0, 1.0) if batch % 2 == 0 else (0.5, 1.0)
        trials += kill_trials(args, db_path, 6, check_import, seed=batch, span=span)
        batch += 1
    # two more with the delay counted from the interpreter's start rather than from drxlab's import
    trials += kill_trials(args, db_path, 2, check_import, seed=99, mode="exec", span=(0.6, 1.0))
    bad = [t for t in trials if not t.ok]
    assert not bad, bad
    killed = [t for t in trials if not t.finished]
    assert len(killed) >= wanted, f"only {len(killed)} of {len(trials)} runs were still going when killed"
    print(
        f"\nkill trials: {len(trials)} run, {len(killed)} killed mid-command, "
        f"{len(trials) - len(bad)} passed the store check"
    )
    # after the last kill the same command completes the job
    code, _ = run_once(args, db_path)
    assert code == 0
    check_import(db_path)
    assert query(db_path, "SELECT COUNT(*) FROM sourcefile") == [(N_FILES,)]
