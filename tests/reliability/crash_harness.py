"""Kill a drxlab command at random moments and check the store it was writing.

Usage (any command; the lead can reuse it for ``log --finetune``, ``suggest``, ``train``)::

    reports = kill_trials(["import", str(data_dir)], db_path, n=20, check=my_check, seed=1)
    assert all(r.ok for r in reports)

Each trial restores the store to its state when :func:`kill_trials` was called (through SQLite's
backup API: files are never swapped under open connections), starts
``drxlab --db DB <cmd_args>``, sends SIGKILL after a seeded random delay in ``[0, duration)``
(``duration`` = one full, uninterrupted run, measured first unless given) and calls
``check(db_path)``, which raises (e.g. ``AssertionError``) if the store is damaged.

``mode="fork"`` runs the command in a forked child of this (test) process, which already has
drxlab imported, so the delay is spent in the command rather than in Python start-up. Use
``mode="exec"`` (a fresh interpreter) for commands that run torch work in the child: a fork of
a process whose OpenMP thread pool is running can hang.
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["fork", "exec"]
CLI_BOOT = "import sys; from drxlab.cli.main import cli; cli(sys.argv[1:], prog_name='drxlab')"


@dataclass(frozen=True)
class Trial:
    """One kill: the delay (s), whether the command had already finished, the check's verdict."""

    index: int
    delay: float
    finished: bool  # exited before the kill (the kill hit nothing)
    exit_code: int | None
    ok: bool
    error: str = ""


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


def _start(args: list[str], mode: Mode, env: dict[str, str] | None) -> tuple[Callable[[], None], Callable[[], int]]:
    """Start the command; returns (kill, wait → exit code)."""
    if mode == "exec":
        proc = subprocess.Popen([sys.executable, "-c", CLI_BOOT, *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        return (lambda: proc.send_signal(signal.SIGKILL)), proc.wait
    pid = os.fork()
    if pid == 0:  # child: run the command, never return into the test process
        code = 1
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            if env is not None:
                os.environ.clear()
                os.environ.update(env)
            from drxlab.cli.main import cli

            try:
                cli.main(args, prog_name="drxlab", standalone_mode=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            os._exit(code)

    def kill() -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait() -> int:
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    return kill, wait


def run_once(cmd_args: Sequence[str], db_path: Path, *, mode: Mode = "fork",
             env: dict[str, str] | None = None) -> tuple[int, float]:
    """Run the command to completion: (exit code, seconds)."""
    t0 = time.perf_counter()
    _, wait = _start(["--db", str(db_path), *cmd_args], mode, env)
    code = wait()
    return code, time.perf_counter() - t0


def kill_trials(cmd_args: Sequence[str], db_path: Path, n: int, check: Callable[[Path], None], *,
                seed: int = 0, duration: float | None = None, span: tuple[float, float] = (0.0, 1.0),
                mode: Mode = "fork", env: dict[str, str] | None = None) -> list[Trial]:
    """``n`` SIGKILL trials of ``drxlab --db db_path <cmd_args>``; every trial starts from the
    store as it is now and ends with ``check(db_path)``. Delays are uniform over ``span`` (fractions
    of ``duration``; e.g. ``(0.5, 1.1)`` to aim at a command's final write). The store is left
    as the last trial left it."""
    db_path = Path(db_path)
    template = db_path.with_name(db_path.name + ".harness-template")
    template.unlink(missing_ok=True)
    _copy(db_path, template, single_file=True)
    try:
        if duration is None:
            code, duration = run_once(cmd_args, db_path, mode=mode, env=env)
            if code != 0:
                raise RuntimeError(f"drxlab {' '.join(cmd_args)} fails without a kill (exit {code})")
        rng = random.Random(seed)
        trials = []
        for i in range(n):
            _copy(template, db_path, single_file=False)
            delay = rng.uniform(span[0] * duration, span[1] * duration)
            kill, wait = _start(["--db", str(db_path), *cmd_args], mode, env)
            time.sleep(delay)
            kill()
            code = wait()
            finished = code != -signal.SIGKILL
            try:
                check(db_path)
                trials.append(Trial(i, delay, finished, code, True))
            except Exception as exc:  # noqa: BLE001 — a failed check is a finding; keep going to report all
                trials.append(Trial(i, delay, finished, code, False, f"{type(exc).__name__}: {exc}"))
        return trials
    finally:
        template.unlink(missing_ok=True)
