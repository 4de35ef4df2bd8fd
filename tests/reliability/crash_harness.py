"""Kill a drxlab command at random moments and check the store it was writing.

Usage (any command; the lead can reuse it for ``log --finetune``, ``suggest``, ``train``)::

    reports = kill_trials(["import", str(data_dir)], db_path, n=20, check=my_check, seed=1)
    assert all(r.ok for r in reports)

Each trial restores the store to its state when :func:`kill_trials` was called (SQLite: through
the backup API, files are never swapped under open connections; PostgreSQL: the database is
dropped and re-created from a template database), starts
``drxlab --db DB <cmd_args>``, sends SIGKILL after a seeded random delay in ``[0, duration)``
(``duration`` = one full, uninterrupted run, measured first unless given) and calls
``check(db_path)``, which raises (e.g. ``AssertionError``) if the store is damaged.

Every run is a fresh interpreter (never a fork of the test process: a fork of a process whose
torch/OpenMP thread pool or any other thread holds a lock can hang for ever). With
``mode="ready"`` (default) the delay starts once the child has imported drxlab and says so on a
pipe, so the delay is spent in the command rather than in Python start-up; ``mode="exec"``
counts from the process start, so kills also land in start-up. Every wait has a deadline
(``timeout`` s): a command that hangs is killed and reported, never waited on for ever.

In ``ready`` mode the child then waits for a "go" byte on its stdin before it runs the command,
so the next trial's interpreter is started (and imports torch and drxlab, ~4 s on 2 cores) while
the previous trial's check runs; it touches no store before "go", which is sent only after the
store has been restored. The kill still lands in the command alone.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["ready", "exec"]
READY = b"R"
GO = b"G"
# commands import their modules (and torch) only when run: load them before saying "ready", so the
# delay is spent in the command's own work, as it was when the CLI imported everything at start-up.
# Commands that run the model load every command module and the workflow (torch, BoTorch); those
# that fine-tune also torch._dynamo (with sympy, ~1.5 s on 2 cores), which torch.func's jvp imports
# on its first call (the parent's replay curves). Other commands (`import`) load their own module
# only, as for a user: ~1 s instead of ~4 s, and their trials wait for the next boot.
MODEL_COMMANDS = ("train", "suggest", "log", "finetune", "predict", "evaluate", "simulate", "demo", "bench")
FINETUNE_COMMANDS = ("log", "finetune")
CLI_BOOT = (
    "import importlib, os, sys\n"
    "from drxlab.cli.main import COMMANDS, cli\n"
    "cmd = sys.argv[3] if len(sys.argv) > 3 else ''\n"  # argv: -c --db DB CMD ...
    f"mods = {{mod for mod, _ in COMMANDS.values()}} if cmd in {MODEL_COMMANDS!r} else "
    "{COMMANDS[cmd][0]} if cmd in COMMANDS else set()\n"
    "for m in sorted(mods): importlib.import_module('drxlab.cli.' + m)\n"
    f"if cmd in {MODEL_COMMANDS!r}:\n"
    "    import drxlab.workflow.suggest, drxlab.workflow.training, drxlab.workflow.screening\n"
    "    import drxlab.model.io\n"
    f"if cmd in {FINETUNE_COMMANDS!r}:\n"
    "    import torch._dynamo\n"
    "quiet = os.open(os.devnull, os.O_WRONLY)\n"
    f"os.write(1, {READY!r}); os.dup2(quiet, 1)\n"
    "if os.environ.get('DRXLAB_HARNESS_GO'): os.read(0, 1)\n"
    "cli(sys.argv[1:], prog_name='drxlab')\n"
)
TIMEOUT = 600.0


@dataclass(frozen=True)
class Trial:
    """One kill: the delay (s), whether the command had already finished, the check's verdict."""

    index: int
    delay: float
    finished: bool  # exited before the kill (the kill hit nothing)
    exit_code: int | None
    ok: bool
    error: str = ""


def _pg_admin(url: str, *statements: str) -> None:
    """Run statements on the server of ``url`` (connected to its ``postgres`` database, autocommit)."""
    import psycopg
    from sqlalchemy.engine import make_url

    from drxlab.store.db import resolve_url

    u = make_url(resolve_url(url))
    with psycopg.connect(
        host=u.host or u.query.get("host"),
        port=u.port or u.query.get("port"),
        user=u.username,
        password=u.password,
        dbname="postgres",
        autocommit=True,
    ) as con:
        for sql in statements:
            con.execute(sql)


def _pg_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    from drxlab.store.db import resolve_url

    return make_url(resolve_url(url)).database


class _Template:
    """The store as it was, to restore before each trial: a SQLite file or a PostgreSQL database."""

    def __init__(self, db: Path | str) -> None:
        self.db = db
        self.pg = "://" in str(db)
        if self.pg:
            name = _pg_name(str(db))
            self.name, self.copy = name, f"{name}_harness_template"
            _pg_admin(
                str(db),
                f'DROP DATABASE IF EXISTS "{self.copy}"',
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
                f'CREATE DATABASE "{self.copy}" TEMPLATE "{name}"',
            )
        else:
            self.path = Path(db).with_name(Path(db).name + ".harness-template")
            self.path.unlink(missing_ok=True)
            _copy(Path(db), self.path, single_file=True)

    def restore(self) -> None:
        if self.pg:
            # a killed client's server process may linger a moment; FORCE ends it
            _pg_admin(
                str(self.db),
                f'DROP DATABASE "{self.name}" WITH (FORCE)',
                f'CREATE DATABASE "{self.name}" TEMPLATE "{self.copy}"',
            )
        else:
            _copy(self.path, Path(self.db), single_file=False)

    def remove(self) -> None:
        if self.pg:
            _pg_admin(str(self.db), f'DROP DATABASE IF EXISTS "{self.copy}" WITH (FORCE)')
        else:
            self.path.unlink(missing_ok=True)


def _copy(src_path: Path, dest_path: Path, *, single_file: bool) -> None:
    """Copy a SQLite database page by page through SQLite (backup API), never by replacing files:
    other connections to ``dest_path`` (in this process too) stay valid, and what is still only
    in a -wal is included."""
    src, dst = sqlite3.connect(src_path, timeout=60), sqlite3.connect(dest_path, timeout=60)
    try:
        src.backup(dst)
        if single_file:
            dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


class _Run:
    """One ``drxlab`` child process; :meth:`wait_ready` returns once drxlab is imported."""

    def __init__(self, args: list[str], env: dict[str, str] | None, timeout: float, gated: bool) -> None:
        self.timeout = timeout
        self.t0 = time.perf_counter()
        if gated:
            env = {**(os.environ if env is None else env), "DRXLAB_HARNESS_GO": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLI_BOOT, *args],
            env=env,
            stdin=subprocess.PIPE if gated else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self) -> None:
        """Block until the child has imported drxlab (or has exited before that)."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            self.kill()
            raise RuntimeError(f"drxlab did not start within {self.timeout:.0f} s")
        self.proc.stdout.read(len(READY))  # READY, or b"" if it died first; either way start timing now
        self.proc.stdout.close()

    def go(self) -> None:
        """Let a gated child (waiting after READY) run its command; its clock starts now."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(GO)
            self.proc.stdin.close()
        except BrokenPipeError:  # it died before "go": its exit code tells
            pass
        self.t0 = time.perf_counter()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)

    def wait(self) -> int:
        """Exit code (negative signal number if killed); a child still running after the
        deadline is killed and reported."""
        try:
            return self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
            raise RuntimeError(
                f"drxlab {' '.join(self.proc.args[3:])} still running after "
                f"{self.timeout:.0f} s: killed (a hang)"
            ) from None
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()


def _start(args: list[str], mode: Mode, env: dict[str, str] | None, timeout: float) -> _Run:
    """Start ``drxlab <args>``; with ``mode="ready"`` return once it is ready (its clock restarted)."""
    run = _Run(args, env, timeout, gated=False)
    if mode == "ready":
        run.wait_ready()
        run.t0 = time.perf_counter()
    return run


def _prestart(args: list[str], env: dict[str, str] | None, timeout: float) -> _Run:
    """Start ``drxlab <args>`` gated: it imports drxlab and then waits for :meth:`_Run.go`."""
    return _Run(args, env, timeout, gated=True)


def run_once(
    cmd_args: Sequence[str],
    db_path: Path | str,
    *,
    mode: Mode = "ready",
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> tuple[int, float]:
    """Run the command to completion: (exit code, seconds from start or from ready, by ``mode``)."""
    run = _start(["--db", str(db_path), *cmd_args], mode, env, timeout)
    code = run.wait()
    return code, time.perf_counter() - run.t0


def kill_trials(
    cmd_args: Sequence[str],
    db_path: Path | str,
    n: int,
    check: Callable[[Path], None],
    *,
    seed: int = 0,
    duration: float | None = None,
    span: tuple[float, float] | Sequence[tuple[float, float]] = (0.0, 1.0),
    mode: Mode = "ready",
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> list[Trial]:
    """``n`` SIGKILL trials of ``drxlab --db db_path <cmd_args>``; every trial starts from the
        store as it is now and ends with ``check(db_path)``. Delays are uniform over ``span`` (fractions
        of ``duration``; e.g. ``(0.5, 1.1)`` to aim at a command's final write; or one span per
    trial). The store is left
        as the last trial left it. ``db_path`` is a SQLite file or a PostgreSQL URL (whose server
        lets its user create databases)."""
    db_path = db_path if "://" in str(db_path) else Path(db_path)
    template = _Template(db_path)
    upcoming: _Run | None = None
    try:
        if duration is None:
            code, duration = run_once(cmd_args, db_path, mode=mode, env=env, timeout=timeout)
            if code != 0:
                raise RuntimeError(f"drxlab {' '.join(cmd_args)} fails without a kill (exit {code})")
        rng = random.Random(seed)
        spans = [span] * n if isinstance(span[0], float | int) else list(span)
        assert len(spans) == n, f"{len(spans)} spans for {n} trials"
        trials = []
        args = ["--db", str(db_path), *cmd_args]
        upcoming = _prestart(args, env, timeout) if mode == "ready" else None
        for i in range(n):
            template.restore()
            lo, hi = spans[i]
            delay = rng.uniform(lo * duration, hi * duration)
            if upcoming is not None:
                run = upcoming
                run.wait_ready()
                run.go()
            else:
                run = _start(args, mode, env, timeout)
            try:  # a command that ends before its kill time ends the wait (no idle sleep)
                run.proc.wait(timeout=max(0.0, delay - (time.perf_counter() - run.t0)))
            except subprocess.TimeoutExpired:
                run.kill()
            code = run.wait()
            finished = code != -signal.SIGKILL
            # the next interpreter boots while this trial's check runs
            upcoming = _prestart(args, env, timeout) if mode == "ready" and i + 1 < n else None
            try:
                check(db_path)
                trials.append(Trial(i, delay, finished, code, True))
            except Exception as exc:
                trials.append(Trial(i, delay, finished, code, False, f"{type(exc).__name__}: {exc}"))
        return trials
    finally:
        if upcoming is not None and upcoming.proc.poll() is None:
            upcoming.kill()
            upcoming.proc.wait()
        template.remove()
