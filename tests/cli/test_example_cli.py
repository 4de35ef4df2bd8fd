"""`drxlab import --example lmto`: the authors' measured file, downloaded from a mirror (a local
server serving ../shared/drxnet-upstream), sha256-checked, cached and imported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import db_digest


def test_import_example_lmto_from_a_local_server(run, upstream: Path, serve, tmp_path: Path) -> None:
    r = run("import", "--example", "lmto", "--base-url", serve(upstream), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["files"], out["tests"], out["profiles"]) == (1, 1, 10)
    assert out["materials"] == ["Li1.2Mn0.4Ti0.4O2"]
    (test,) = json.loads(run("tests", "--json").stdout)
    assert round(test["capacity_first_mAh_g"], 1) == 250.3
    cached = tmp_path / "cache" / "drxlab" / "examples" / "LMTO_example.csv"
    assert cached.read_bytes() == (upstream / "LMTO_example.csv").read_bytes()
    # the second time it comes from the cache (no server), and importing it again is a no-op
    r = run("import", "--example", "lmto", "--base-url", "http://127.0.0.1:9")
    assert r.exit_code == 0, r.output
    assert "cached" in r.output and "already imported" in r.output


def test_corrupted_example_imports_and_caches_nothing(
    run, upstream: Path, serve, tmp_path: Path, db_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(upstream / "LMTO_example.csv", mirror / "LMTO_example.csv")
    (mirror / "LMTO_example.csv").chmod(0o644)
    data = bytearray((mirror / "LMTO_example.csv").read_bytes())
    data[500] = ord("9") if data[500] != ord("9") else ord("8")
    (mirror / "LMTO_example.csv").write_bytes(bytes(data))
    before = db_digest(db_path)
    r = run("import", "--example", "lmto", "--base-url", serve(mirror))
    assert r.exit_code != 0
    assert r.output.startswith("Error:") and "sha256" in r.output and "does not match" in r.output
    assert "LMTO_example.csv" in r.output and "nothing imported" in r.output
    assert db_digest(db_path) == before
    assert not (tmp_path / "cache" / "drxlab" / "examples" / "LMTO_example.csv").exists()


def test_example_offline_or_missing_is_a_clear_error(run, db_path: Path) -> None:
    before = db_digest(db_path)
    r = run("import", "--example", "lmto", "--base-url", "http://127.0.0.1:9")
    assert r.exit_code != 0 and "cannot download" in r.output and "drxlab import FILE" in r.output
    r = run("import")
    assert r.exit_code != 0 and "--example" in r.output
    assert db_digest(db_path) == before
