"""Several processes importing into one store (SQLite or PostgreSQL) at once lose nothing and never
see "database is locked" or a serialisation error; the result equals importing the same files one
after another."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from drxlab.store.backup import backup, verify
from drxlab.store.db import open_store
from tests.conftest import query
from tests.factories import write_drx_td

pytestmark = pytest.mark.both_backends

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 8  # the issue: 8 concurrent imports
ROUNDS = 2  # `drxlab import` invocations per worker (each opens the store anew)

# A worker waits for a common start time, then imports one path per CLI invocation.
WORKER = textwrap.dedent("""
    import sys, time
    from drxlab.cli.main import cli
    db, start, paths = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    time.sleep(max(0.0, start - time.time()))
    for p in paths:
        try:
            cli.main(["--db", db, "import", p], prog_name="drxlab", standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _files(root: Path, tag: str, n: int, cap0: float) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    comps = [
        {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0},
        {"Li": 1.2, "Mn": 0.6, "Nb": 0.2, "O": 2.0},
        {"Li": 1.1, "Mn": 0.7, "Ti": 0.2, "O": 1.9, "F": 0.1},
    ]
    return [
        write_drx_td(root / f"{tag}-{i}.json", composition=comps[i % 3], cap=cap0 + 3 * i, cycles=1 + i % 4)
        for i in range(n)
    ]


def _state(url: str | Path) -> tuple[int, int, list]:
    ((tests,),) = query(url, "SELECT COUNT(*) FROM electrochemtest")
    ((profiles,),) = query(url, "SELECT COUNT(*) FROM profile")
    caps = sorted(
        (f, src, c, round(q, 9))
        for f, src, c, q in query(
            url,
            "SELECT m.formula, t.source_file, p.cycle, p.capacity FROM profile p "
            "JOIN electrochemtest t ON t.id = p.test_id JOIN sample s ON s.id = t.sample_id "
            "JOIN material m ON m.id = s.material_id",
        )
    )
    return tests, profiles, caps


def test_concurrent_imports_equal_sequential_imports(tmp_path: Path, db_url: str, new_url, run) -> None:
    shared = write_drx_td(tmp_path / "shared.json", cycles=3, cap=275.0)  # every worker races to import it
    own = [_files(tmp_path / f"w{w}", f"w{w}", ROUNDS, 150.0 + 40 * w) for w in range(WORKERS)]
    start = time.time() + 4.0  # after every worker has imported drxlab
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, db_url, str(start), str(shared), *map(str, files)],
            env=_env(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for files in own
    ]
    time.sleep(max(0.0, start - time.time()) + 0.3)
    # while the workers write: an online backup is a consistent snapshot (every test complete)
    snap = tmp_path / "during.sqlite"
    store = open_store(db_url)
    backup(store, snap)
    store.engine.dispose()
    assert verify(snap).integrity == "ok"
    assert query(
        snap,
        "SELECT COUNT(*) FROM electrochemtest t WHERE NOT EXISTS "
        "(SELECT 1 FROM profile p WHERE p.test_id = t.id)",
    ) == [(0,)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        results.append((p.returncode, out, err))
    for code, out, err in results:
        assert code == 0, err
        assert "locked" not in err + out and "Traceback" not in err and "serializ" not in err
    assert sum("already imported" in err for _, _, err in results) == WORKERS - 1  # shared.json stored once

    seq = new_url("seq")
    open_store(seq).engine.dispose()
    for f in [shared, *sorted(f for files in own for f in files)]:
        assert run("import", f, db=seq).exit_code == 0
    n_files = 1 + WORKERS * ROUNDS
    got, want = _state(db_url), _state(seq)
    assert got[0] == want[0] == n_files
    assert got[1] == want[1]
    assert got[2] == want[2]
    assert query(db_url, "SELECT COUNT(*) FROM sourcefile") == [(n_files,)]
    assert query(db_url, "SELECT COUNT(*) FROM auditlog WHERE command = 'drxlab import'") == [(n_files,)]
    assert run("db", "check").exit_code == 0
