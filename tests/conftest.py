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


BACKENDS = ["sqlite", "postgresql"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``both_backends`` (e.g. ``pytestmark = pytest.mark.both_backends`` in a module)
    that use a store (the ``backend`` fixture, through ``run`` / ``db_url``) run on each backend."""
    marked = metafunc.definition.get_closest_marker
    if marked("both_backends") and not marked("one_backend") and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for the whole session (started on first use), or skip / fail under CI."""
    from tests.pg import PgServer, find_bin, missing

    bindir = find_bin()
    if bindir is None:
        missing("no initdb/pg_ctl (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        missing("the psycopg driver is not installed (pip install 'drxlab[postgres]')")
    server = PgServer(bindir)
    try:
        server.start()
    except Exception as exc:
        server.stop()
        missing(f"the server did not start: {getattr(exc, 'stderr', '') or exc}")
    yield server
    server.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless the module parametrises it (indirect) over :data:`BACKENDS`, or
    ``$DRXLAB_TEST_BACKEND`` (a developer running every ``run`` test on PostgreSQL)."""
    return getattr(request, "param", os.environ.get("DRXLAB_TEST_BACKEND", "sqlite"))


@pytest.fixture
def new_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest):
    """Factory of URLs of new, empty stores of the test's backend: ``new_url("name")``."""
    if backend == "sqlite":
        return lambda name="extra": str(tmp_path / f"{name}.sqlite")
    server = request.getfixturevalue("pg_server")
    return lambda name="extra": server.new_database()


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, new_url) -> str:
    """``--db`` value of a fresh, initialised store: the SQLite path, or a PostgreSQL URL."""
    if backend == "sqlite":
        return str(request.getfixturevalue("db_path"))
    from drxlab.store.db import open_store

    url = new_url()
    open_store(url).engine.dispose()
    return url


@pytest.fixture
def run(db_url: str):
    """Invoke the CLI on the temporary store: ``run("tests", "--json")`` → click Result."""
    from click.testing import CliRunner

    from drxlab.cli.main import cli

    runner = CliRunner()

    def _run(*args: str, db: Path | str | None = None):
        return runner.invoke(cli, ["--db", str(db or db_url), *map(str, args)], catch_exceptions=False)

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
        s.server_close()  # the listening socket too (left to the GC it is a ResourceWarning)


def query(url: str | Path, sql: str, **params: object) -> list[tuple]:
    """Rows of a read-only SQL query on any store (a path or URL), bypassing drxlab."""
    from sqlalchemy import create_engine, text

    from drxlab.store.db import resolve_url

    engine = create_engine(resolve_url(url))
    try:
        with engine.connect() as con:
            return [tuple(r) for r in con.execute(text(sql), params).all()]
    finally:
        engine.dispose()


def store_digest(url: str | Path) -> str:
    """Backend-independent digest of a store's data (its logical dump); "absent" if no SQLite file."""
    import hashlib
    import json

    from drxlab.store.db import resolve_url, sqlite_path
    from drxlab.store.transfer import logical_dump_url

    path = sqlite_path(resolve_url(url))
    if path is not None and not path.exists():
        return "absent"
    return hashlib.sha256(json.dumps(logical_dump_url(url), sort_keys=True).encode()).hexdigest()


@pytest.fixture(scope="session")
def ray_local():
    """One private Ray instance for the test session (2 CPUs, no dashboard, 127.0.0.1 only).

    With CI=true a Ray that is missing or cannot start fails the test instead of skipping it.
    """
    # loopback only: Ray reads this when imported (drxlab.executors.LOOPBACK_ENV); no token needed
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray

        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    except Exception as exc:  # ImportError or any start-up failure: the reason goes in the message
        message = f"Ray cannot start here: {type(exc).__name__}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield ray
    ray.shutdown()
