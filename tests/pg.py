"""A throw-away PostgreSQL 15 server for the tests: initdb in a temp dir, Unix socket only.

The server runs as the ``postgres`` OS user when the tests run as root (PostgreSQL refuses to
run as root). Each test gets a fresh database from :meth:`PgServer.new_database`. Role
``drx_pw`` (password :data:`PASSWORD`) must log in with a password; everyone else is trusted on
the socket.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_BINS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (15, 16, 17)]
PASSWORD = "s3cret-Pw-1234"
HBA = """local all drx_pw scram-sha-256
local all all trust
"""


def missing(reason: str) -> None:
    """Under CI a missing server fails the test; elsewhere it is skipped."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL: {reason}")
    pytest.skip(f"PostgreSQL: {reason}")


def find_bin() -> Path | None:
    for d in PG_BINS:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A running server: ``url(dbname)`` and ``new_database()`` give psycopg URLs."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # short path: a Unix socket path must stay under ~100 characters
        self.root = Path(tempfile.mkdtemp(prefix="drxpg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self._names = itertools.count()
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", "postgres", "--"] if self.as_root else []) + list(args)

    def _run(self, *args: str, stdin: str | None = None, check: bool = True) -> None:
        subprocess.run(
            self._cmd(*args), input=stdin, check=check, capture_output=True, text=True, timeout=120
        )

    def start(self) -> None:
        # C locale: text sorts by code point, as in SQLite, so orderings match across backends
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "-A",
            "trust",
            "--no-sync",
        )
        hba = self.data / "pg_hba.conf"
        if self.as_root:
            self._run("sh", "-c", f"cat > {hba}", stdin=HBA)
        else:
            hba.write_text(HBA)
        # durability settings off: a test server's data is thrown away, and kill trials kill
        # clients, not the server
        opts = (
            f"-k {self.root} -c listen_addresses='' -p {self.port} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-w",
            "-l",
            str(self.root / "server.log"),
            "start",
        )
        self.admin(f"CREATE ROLE drx_pw LOGIN SUPERUSER PASSWORD '{PASSWORD}'")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@/{dbname}?host={self.root}&port={self.port}"

    def admin(self, sql: str, dbname: str = "postgres") -> list[tuple]:
        """Run one statement as the superuser (autocommit); its rows, if any."""
        import psycopg

        with psycopg.connect(
            host=str(self.root), port=self.port, user="postgres", dbname=dbname, autocommit=True
        ) as con:
            cur = con.execute(sql)
            return cur.fetchall() if cur.description else []

    def new_database(self) -> str:
        """URL of a new, empty database."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)
