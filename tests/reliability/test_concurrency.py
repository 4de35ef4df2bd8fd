"""Several processes importing into one SQLite store at once lose nothing and never see
"database is locked"; the result equals importing the same files one after another."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from drxlab.store.backup import backup, verify
from drxlab.store.db import open_store
from tests.factories import write_drx_td

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
ROUNDS = 5  # `drxlab import` invocations per worker (each opens the store anew)

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
    comps = [{"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}, {"Li": 1.2, "Mn": 0.6, "Nb": 0.2, "O": 2.0},
             {"Li": 1.1, "Mn": 0.7, "Ti": 0.2, "O": 1.9, "F": 0.1}]
    return [write_drx_td(root / f"{tag}-{i}.json", composition=comps[i % 3], cap=cap0 + 3 * i, cycles=1 + i % 4)
            for i in range(n)]


def _state(path: Path) -> tuple[int, int, list]:
    con = sqlite3.connect(path)
    tests = con.execute("SELECT COUNT(*) FROM electrochemtest").fetchone()[0]
    profiles = con.execute("SELECT COUNT(*) FROM profile").fetchone()[0]
    caps = sorted(con.execute(
        "SELECT m.formula, t.source_file, p.cycle, round(p.capacity, 9) FROM profile p "
        "JOIN electrochemtest t ON t.id = p.test_id JOIN sample s ON s.id = t.sample_id "
        "JOIN material m ON m.id = s.material_id").fetchall())
    con.close()
    return tests, profiles, caps


def test_concurrent_imports_equal_sequential_imports(tmp_path: Path, db_path: Path, run) -> None:
    shared = write_drx_td(tmp_path / "shared.json", cycles=3, cap=275.0)  # every worker races to import it
    own = [_files(tmp_path / f"w{w}", f"w{w}", ROUNDS, 150.0 + 40 * w) for w in range(WORKERS)]
    start = time.time() + 4.0  # after every worker has imported drxlab
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(db_path), str(start), str(shared), *map(str, files)],
                              env=_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for files in own]
    time.sleep(max(0.0, start - time.time()) + 0.3)
    # while the workers write: an online backup is a consistent snapshot (every test complete)
    snap = tmp_path / "during.sqlite"
    backup(db_path, snap)
    assert verify(snap).integrity == "ok"
    con = sqlite3.connect(snap)
    assert con.execute("SELECT COUNT(*) FROM electrochemtest t WHERE NOT EXISTS "
                       "(SELECT 1 FROM profile p WHERE p.test_id = t.id)").fetchone()[0] == 0
    con.close()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        results.append((p.returncode, out, err))
    for code, out, err in results:
        assert code == 0, err
        assert "locked" not in err + out and "Traceback" not in err
    assert sum("already imported" in err for _, _, err in results) == WORKERS - 1  # shared.json stored once

    seq = tmp_path / "seq.sqlite"
    open_store(seq).engine.dispose()
    for f in [shared, *sorted(f for files in own for f in files)]:
        assert run("import", f, db=seq).exit_code == 0
    n_files = 1 + WORKERS * ROUNDS
    got, want = _state(db_path), _state(seq)
    assert got[0] == want[0] == n_files
    assert got[1] == want[1]
    assert got[2] == want[2]
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT COUNT(*) FROM sourcefile").fetchone()[0] == n_files
    assert con.execute("SELECT COUNT(*) FROM auditlog WHERE command = 'drxlab import'").fetchone()[0] == n_files
    con.close()
    assert run("db", "check").exit_code == 0
