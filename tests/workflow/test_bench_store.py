"""`drxlab bench store`: the same import and suggest timed on SQLite and PostgreSQL in one run."""

from __future__ import annotations

import json

from click.testing import CliRunner

from drxlab.cli.main import cli
from tests.conftest import query


def test_bench_store_times_both_backends_on_the_same_work(pg_server, tmp_path) -> None:
    url = pg_server.new_database()
    # the second round clears both stores first
    args = [
        "bench",
        "store",
        "--pg",
        url,
        "--tests",
        "12",
        "--size",
        "200",
        "--campaign",
        "campaigns/li-mn-o-f.toml",
        "--repeat",
        "2",
        "--json",
    ]
    r = CliRunner().invoke(cli, ["--db", str(tmp_path / "unused.sqlite"), *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    for label in ("sqlite", "postgresql"):
        assert out[label]["tests"] == 12 and out[label]["candidates"] >= 200
        assert out[label]["import_s"] > 0 and out[label]["suggest_s"] > 0
    assert out["sqlite"]["candidates"] == out["postgresql"]["candidates"]
    assert set(out["ratio_postgresql_to_sqlite"]) >= {"import_s", "suggest_s"}
    assert query(url, "SELECT COUNT(*) FROM electrochemtest") == [(12,)]
    assert query(url, "SELECT COUNT(*) FROM suggestion") == [(8,)]
    r = CliRunner().invoke(
        cli,
        [
            "bench",
            "store",
            "--pg",
            url,
            "--tests",
            "2",
            "--size",
            "10",
            "--campaign",
            "campaigns/li-mn-o-f.toml",
        ],
    )
    assert r.exit_code == 1 and "already holds data" in r.output
