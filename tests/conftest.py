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


def require_binary(*names: str) -> str:
    """Path of the first of ``names`` on PATH; under CI a missing binary fails the test, elsewhere skips it.

    .ci/run installs what the tests need from the OS (Chromium, mdbtools, PostgreSQL), so under CI
    an absent binary is a set-up bug that must not pass as a skip.
    """
    import shutil

    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"none of {', '.join(names)} is on PATH; .ci/run must install it")
    pytest.skip(f"none of {', '.join(names)} on this machine")


@pytest.fixture
def upstream() -> Path:
    """The DRXNet authors' released files (../shared/drxnet-upstream)."""
    return require_shared(UPSTREAM)


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


@pytest.fixture(autouse=True)
def _quiet_progress_private_cache(monkeypatch, tmp_path: Path) -> None:
    """No progress lines (click's ``result.output`` mixes stderr into stdout and tests parse it;
    tests of progress turn them on) and a private cache for pulled examples (``tmp_path/cache``)."""
    monkeypatch.setenv("DRXLAB_PROGRESS", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


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


@pytest.fixture
def serve():
    """Serve a directory on 127.0.0.1 (a stand-in for the authors' repository); yields dir -> base URL."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # request logs on stderr would mix into CLI output
            pass

    servers = []

    def _serve(directory: Path) -> str:
        handler = functools.partial(Quiet, directory=str(directory))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield _serve
    for s in servers:
        s.shutdown()
