"""`drxlab demo`: the released ensemble on the paper's HE-1/HE-2 and on the authors' measured
LMTO cell (before/after first-cycle fine-tuning), then the virtual round; never silent > 10 s."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.timed import run_timed

LATER = range(2, 11)


def _measured(path: Path) -> dict[int, float]:
    from drxlab.profiles.importers import read_file

    (test,) = read_file(path).tests
    return {p.cycle: p.profile.capacity for p in test.profiles}


def _rows(text: str, first: str) -> list[list[str]]:
    """The rows of the printed table whose header starts with ``first``."""
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(first))
    out = []
    for ln in lines[i + 2 :]:
        if not ln.strip() or ln.startswith("    "):
            break
        out.append(ln.split())
    return out


def test_demo_finds_the_released_version_in_the_users_store_and_the_cached_example(
    run, upstream: Path, db_path: Path, tmp_path: Path, serve
) -> None:
    from drxlab.workflow.demo_real import find_lmto, find_released

    assert find_released(str(db_path), None) == (None, "")
    assert find_released(str(tmp_path / "absent.sqlite"), None) == (None, "")
    assert not (tmp_path / "absent.sqlite").exists()
    run("model", "import-drxnet", upstream / "pretrained")
    ens, origin = find_released(str(db_path), None)
    assert len(ens) == 5 and origin.startswith("model version 1 of ")
    assert find_lmto(None) is None
    assert run("import", "--example", "lmto", "--base-url", serve(upstream)).exit_code == 0
    assert find_lmto(None) == tmp_path / "cache" / "drxlab" / "examples" / "LMTO_example.csv"
    assert find_lmto(upstream) == upstream / "LMTO_example.csv"


def test_example_dir_with_another_file_is_refused(run, tmp_path: Path) -> None:
    (tmp_path / "LMTO_example.csv").write_text("material_id,composition\n")
    r = run("demo", "--example-dir", tmp_path, "--out", tmp_path / "d")
    assert (
        r.exit_code != 0 and r.output.startswith("Error:") and "not the released LMTO_example.csv" in r.output
    )


@pytest.mark.slow
def test_demo_with_released_model_and_lmto(upstream: Path, tmp_path: Path) -> None:
    from drxlab.store import queries
    from drxlab.store.db import open_store
    from drxlab.workflow import models

    out = tmp_path / "demo"
    r = run_timed(
        "--db",
        tmp_path / "none.sqlite",
        "demo",
        "--out",
        out,
        "--model-dir",
        upstream / "pretrained",
        "--example-dir",
        upstream,
        "--n-seed",
        "8",
        "--epochs",
        "1",
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert r.rc == 0, r.stderr + r.stdout
    text = r.stdout
    assert text.index("PART 1 — REAL") < text.index("PART 2 — VIRTUAL")
    assert "simulated data, not measurements" in text and "MEASURED" in text
    he = _rows(text, "name ")
    assert [(row[0], row[2], row[6]) for row in he] == [
        ("HE-1", "20", "276"),
        ("HE-1", "1000", "196"),
        ("HE-2", "20", "266"),
        ("HE-2", "1000", "171"),
    ]
    assert all(
        abs(float(row[3]) - float(row[6])) < 5 for row in he
    )  # the released model reproduces the paper
    header = next(ln for ln in text.splitlines() if ln.startswith("name "))
    assert "σ_Q (mAh/g)  σ calibrated (mAh/g)" in header
    for row in he:
        # nothing measured: the conservative prior, 0.15 × the typical prediction of its rate
        typical = np.median([float(r[3]) for r in he if r[2] == row[2]])
        assert float(row[5]) == pytest.approx(np.hypot(float(row[4]), 0.15 * typical), abs=0.11)
    lmto = _rows(text, "cycle  measured (mAh/g)")
    assert [int(row[0]) for row in lmto] == list(range(1, 11))
    assert float(lmto[0][1]) == pytest.approx(250.3, abs=0.05)
    for row in lmto:  # cycle, measured, released, σ_Q, σ calibrated, fine-tuned, σ_Q, σ calibrated
        for mean, sd, cal in ((2, 3, 4), (5, 6, 7)):
            assert float(row[cal]) == pytest.approx(
                np.hypot(float(row[sd]), 0.15 * float(row[mean])), abs=0.11
            )
    # the released model's calibrated σ at cycle 1 covers (at 2σ) the error it shows on the real cell
    assert abs(float(lmto[0][1]) - float(lmto[0][2])) <= 2 * float(lmto[0][4])
    assert text.count("fewer than 5 measured compositions in this store") == 2
    assert "documented conservative prior" in text
    before_p, after_p = map(
        float, re.search(r"MAE ([\d.]+) → ([\d.]+) mAh/g after logging cycle 1", text).groups()
    )
    # the same MAE from what the demo stored: both versions in real.sqlite against the measured file
    measured = _measured(upstream / "LMTO_example.csv")
    store = open_store(out / "real.sqlite", create=False)
    with store.reader() as s:
        versions = queries.model_versions(s)
        assert [(v.id, v.source, v.parent_id) for v in versions] == [
            (1, "released", None),
            (2, "finetuned", 1),
        ]
        tests = queries.test_records(s)
        ens = [models.load(v) for v in versions]
    store.engine.dispose()
    assert [sorted(t.profiles) for t in tests] == [[1]]  # the fine-tune saw the first cycle only
    mae = [
        float(
            np.mean(
                np.abs(
                    e.predict_capacity(["Li1.2Mn0.4Ti0.4O2"] * 9, 20.0, 1.5, 4.8, np.array(LATER)).mean(0)
                    - np.array([measured[c] for c in LATER])
                )
            )
        )
        for e in ens
    ]
    assert mae[1] < mae[0]
    assert (before_p, after_p) == (pytest.approx(mae[0], abs=0.051), pytest.approx(mae[1], abs=0.051))
    assert "report: " in text and (out / "report.html").exists()
    assert "drxlab model pull" not in text  # nothing to unlock
    assert r.longest_silence <= 10, r.lines


@pytest.mark.slow
def test_demo_without_real_files_runs_virtual_and_names_the_commands(tmp_path: Path) -> None:
    r = run_timed(
        "--db",
        tmp_path / "none.sqlite",
        "demo",
        "--out",
        tmp_path / "demo",
        "--n-seed",
        "8",
        "--epochs",
        "1",
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert r.rc == 0, r.stderr + r.stdout
    assert "PART 1" not in r.stdout and "PART 2 — VIRTUAL" in r.stdout
    tail = r.stdout[r.stdout.index("The real part") :]
    assert "drxlab model pull" in tail and "drxlab import --example lmto" in tail
    assert not (tmp_path / "none.sqlite").exists()  # the user's store is only looked at
    assert r.longest_silence <= 10, r.lines
