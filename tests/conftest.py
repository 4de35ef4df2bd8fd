"""Shared fixtures: paths to ../shared, a temporary store, a CLI runner."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
UPSTREAM = SHARED / "drxnet-upstream"


def require_shared(path: Path = UPSTREAM) -> Path:
    """Return a path under ../shared; under CI a missing one fails the test, elsewhere skips it."""
    if not path.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} is missing; CI must run with ../shared beside the clone")
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture
def upstream() -> Path:
    """The DRXNet authors' released files (../shared/drxnet-upstream)."""
    return require_shared(UPSTREAM)


def without_store_line(output: str) -> str:
    """CLI output without the informational ``store: …`` line every command prints on stderr."""
    return "".join(ln for ln in output.splitlines(keepends=True) if not ln.startswith("store: "))


def db_digest(path: Path) -> str:
    """sha256 of a SQLite database's logical dump (equal dumps = unchanged database)."""
    import hashlib
    import sqlite3

    if not Path(path).exists():
        return "absent"
    con = sqlite3.connect(str(path))
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of a fresh, initialised store in a temporary directory."""
    from drxlab.store.db import open_store

    path = tmp_path / "lab.sqlite"
    open_store(path)
    return path


@pytest.fixture
def run(db_path: Path):
    """Invoke the CLI on the temporary store: ``run("tests", "--json")`` → click Result."""
    from click.testing import CliRunner

    from drxlab.cli.main import cli

    runner = CliRunner()

    def _run(*args: str, db: Path | None = None):
        return runner.invoke(cli, ["--db", str(db or db_path), *map(str, args)], catch_exceptions=False)

    return _run
