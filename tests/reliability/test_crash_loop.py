"""SIGKILL the loop's torch commands (`train`, `suggest`, `log --finetune`) at random moments.

Each command fits or screens without holding the write lock (`log --finetune` fits on the checked
result before writing it) and then commits in one transaction. After any kill the store must be
sound and hold either nothing of the command or all of it:

* ``PRAGMA integrity_check`` / ``foreign_key_check`` clean; the store opens with ``open_store``;
* no partial rows: every test has its profiles, every suggestion its (proposed) sample, every
  model version weights that hash to its sha256, and every current version loads;
* nothing of the command (the store is *logically identical* to the one it started from:
  same ``store_digest``) or all of it (+1 model version; +3 proposed suggestions; the sample
  tested with its test *and* the fine-tuned version — never one without the other);
* the command still works afterwards. A store left logically identical to the starting one is
  the state the uninterrupted (measured) run started from, so the command succeeds there; a
  store the command committed to is checked by running the command again (in this process).
  `log` of an already-tested sample is refused by design (exit 1, nothing written); it is
  re-logged with ``--replace``, which must succeed.

The kills are timed against one measured, uninterrupted run of the command, counted from the
moment a fresh interpreter has imported drxlab (``mode="ready"``), so they land in the command's
own work rather than in Python start-up: two thirds uniformly over the whole run, one third aimed
at its last quarter, where the one write transaction sits (a uniform draw puts only ~1 in 10 kills
there). 12 kills per command on SQLite and 8 on PostgreSQL keep the suite under its 20-minute budget
on 2 cores; the aimed third gives the commit window more hits than 20 uniform kills did.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner

import drxlab.store.db as store_db
from drxlab.cli.main import cli
from drxlab.store.db import open_store
from drxlab.store.tables import ModelVersion
from drxlab.workflow import models
from tests.conftest import BACKENDS, query, store_digest
from tests.factories import campaign_toml, write_drx_td
from tests.reliability.crash_harness import Trial, kill_trials, run_once

pytestmark = pytest.mark.slow

N_TRIALS = 12
PG_TRIALS = 8
AIMED = (0.75, 1.05)  # fractions of the measured run: its final write, and just after
N_SUGGEST = 3
TRAIN = ["train", "--members", "2", "--epochs", "1", "--size", "small", "--include-virtual"]
# 533 charge-balanced candidates (2–4 metals): screening takes a few seconds with a tiny ensemble
CAMPAIGN = campaign_toml(
    "crash-loop", {"Mn3+": 0.4, "Cr3+": 0.2, "Ni2+": 0.2, "Ti4+": 0.4, "Nb5+": 0.2}, f=(0.0, 0.15), batch=3
)


# ---------------------------------------------------------------- helpers
def copy_store(src: Path, dest: Path | str) -> Path | str:
    """Copy a store: to a SQLite file through SQLite's backup API (a file copy would miss pages
    still in the -wal), to a PostgreSQL URL with drxlab's verified copy."""
    if "://" in str(dest):
        from drxlab.store.transfer import copy_store as transfer

        transfer(src, dest)
        return dest
    s, d = sqlite3.connect(src), sqlite3.connect(dest)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()
    return dest


def invoke(db: Path | str, *args: str):
    """Run a drxlab command in this process; the stores it opened are disposed afterwards (no
    pooled connection to ``db`` outlives the call)."""
    opened = []

    def tracking(*a, **kw):
        store = real_open(*a, **kw)
        opened.append(store)
        return store

    real_open = store_db.open_store
    try:
        # the CLI imports open_store when a command first opens the store (lazy CLI)
        with mock.patch.object(store_db, "open_store", tracking):
            return CliRunner().invoke(cli, ["--db", str(db), *map(str, args)], catch_exceptions=False)
    finally:
        for store in opened:
            store.engine.dispose()


@dataclass(frozen=True)
class State:
    versions: dict[int, tuple[str, str, int | None]]  # id → (sha256, source, parent)
    current: dict[str, int]  # scope → version id
    tests: dict[int, tuple[int, int]]  # test id → (sample id, profiles)
    samples: dict[int, str]  # sample id → status
    suggestions: dict[int, tuple[int, int]]  # suggestion id → (sample id, model version id)
    audits: int
    digest: str


def read_state(db: Path | str) -> State:
    """The store's rows relevant here, after the structural checks every trial must pass."""
    if "://" not in str(db):
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
        assert query(db, "PRAGMA foreign_key_check") == []
    versions = {}
    for vid, sha, source, parent, weights in query(
        db, "SELECT id, sha256, source, parent_id, weights FROM modelversion"
    ):
        assert hashlib.sha256(weights).hexdigest() == sha, f"model version {vid}: weights do not match sha256"
        versions[vid] = (sha, source, parent)
    current = dict(query(db, "SELECT scope, version_id FROM currentmodel"))
    tests = {
        t: (s, n)
        for t, s, n in query(
            db,
            "SELECT t.id, t.sample_id, COUNT(p.id) FROM electrochemtest t "
            "LEFT JOIN profile p ON p.test_id = t.id "
            "GROUP BY t.id",
        )
    }
    samples = dict(query(db, "SELECT id, status FROM sample"))
    suggestions = {
        i: (s, m) for i, s, m in query(db, "SELECT id, sample_id, model_version_id FROM suggestion")
    }
    ((audits,),) = query(db, "SELECT COUNT(*) FROM auditlog")
    bare = [t for t, (_, n) in tests.items() if n == 0]
    assert not bare, f"tests without profiles: {bare}"
    assert set(current.values()) <= set(versions), f"current model rows point at missing versions: {current}"
    for sid, (smp, mv) in suggestions.items():
        assert smp in samples, f"suggestion {sid}: sample {smp} missing"
        assert mv in versions, f"suggestion {sid}: model version {mv} missing"
    # the store opens, and every current version loads (sha256 verified by models.load)
    store = open_store(db, create=False)
    try:
        with store.reader() as s:
            for vid in set(current.values()):
                assert len(models.load(s.get(ModelVersion, vid))) >= 1
    finally:
        store.engine.dispose()
    return State(versions, current, tests, samples, suggestions, audits, store_digest(db))


@dataclass
class Tally:
    committed: int = 0  # trials after which the store held the command's whole result
    untouched: int = 0  # trials after which the store was logically the starting one
    reruns: int = 0


def run_kills(
    name: str,
    args: list[str],
    db: Path | str,
    check: Callable[[Path], None],
    tally: Tally,
    seed: int,
    scratch: Path | str,
    n_trials: int = N_TRIALS,
) -> list[Trial]:
    """Measure one uninterrupted run on a scratch copy, then ``n_trials`` kills spread over it."""
    scratch = copy_store(db, scratch)
    code, duration = run_once(args, scratch)  # from drxlab imported to exit
    assert code == 0, f"drxlab {' '.join(args)} fails without a kill (exit {code})"
    check(scratch)  # the uninterrupted run passes the same check (and commits)
    assert tally.committed == 1
    tally.committed = tally.untouched = tally.reruns = 0
    aimed = n_trials // 3
    spans = [(0.0, 1.0)] * (n_trials - aimed) + [AIMED] * aimed
    trials = kill_trials(args, db, n_trials, check, seed=seed, duration=duration, span=spans)
    mid = [t for t in trials if not t.finished]
    print(
        f"\n{name}: command {duration:.1f} s after start-up; {len(trials)} trials: {len(mid)} "
        "killed mid-command, "
        f"{len(trials) - len(mid)} after completion; store afterwards: {tally.untouched} untouched, "
        f"{tally.committed} with the whole result (re-run {tally.reruns}×)"
    )
    assert len(mid) >= n_trials // 4, (
        f"{name}: only {len(mid)} of {len(trials)} kills hit the running command"
    )
    bad = [t for t in trials if not t.ok]
    assert not bad, f"{name}: " + "; ".join(
        f"trial {t.index} (delay {t.delay:.2f} s, exit {t.exit_code}): {t.error}" for t in bad
    )
    assert tally.committed + tally.untouched == len(trials)
    return trials


# ---------------------------------------------------------------- stores
@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict:
    """seeded (8 2TM compositions) → trained (a tiny model) → suggested (3 proposed samples)."""
    d = tmp_path_factory.mktemp("crash-loop")
    spec = d / "campaign.toml"
    spec.write_text(CAMPAIGN)
    work = d / "work.sqlite"
    out = {"spec": spec, "dir": d}
    for stage, args in (
        ("seeded", ["lab", "seed", "--n", "8", "--classes", "2TM", "--seed", "1"]),
        ("trained", TRAIN),
        ("suggested", ["suggest", "--campaign", str(spec), "-n", str(N_SUGGEST)]),
    ):
        r = invoke(work, *args)
        assert r.exit_code == 0, r.output
        out[stage] = copy_store(work, d / f"{stage}.sqlite")
    waiting = json.loads(invoke(out["suggested"], "status", "--json").output)["waiting"]
    assert len(waiting) == N_SUGGEST and all(w["status"] == "proposed" for w in waiting)
    out["waiting"] = waiting
    return out


# ---------------------------------------------------------------- train
def test_train_survives_sigkill(bases, tmp_path: Path) -> None:
    db = copy_store(bases["seeded"], tmp_path / "lab.sqlite")
    start = read_state(db)
    assert not start.versions
    tally = Tally()

    def check(path: Path) -> None:
        st = read_state(path)
        assert st.samples == start.samples and st.tests == start.tests and not st.suggestions
        if st.digest == start.digest:
            tally.untouched += 1
            return
        # committed: exactly one new, complete, current version and its audit row
        assert len(st.versions) == len(start.versions) + 1, f"{len(st.versions)} versions"
        (new,) = set(st.versions) - set(start.versions)
        assert st.versions[new][1:] == ("trained", None)
        assert st.current == {"": new} and st.audits == start.audits + 1
        tally.committed += 1
        tally.reruns += 1
        r = invoke(path, *TRAIN)
        assert r.exit_code == 0, f"re-run after the kill: {r.output}"
        assert len(read_state(path).versions) in (1, 2)

    run_kills("train", TRAIN, db, check, tally, seed=11, scratch=tmp_path / "train-measure.sqlite")


# ---------------------------------------------------------------- suggest
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_suggest_survives_sigkill(bases, tmp_path: Path, backend: str, new_url) -> None:
    db = copy_store(bases["trained"], new_url("lab"))
    args = ["suggest", "--campaign", str(bases["spec"]), "-n", str(N_SUGGEST)]
    start = read_state(db)
    assert len(start.versions) == 1 and not start.suggestions
    tally = Tally()

    def check(path: Path) -> None:
        st = read_state(path)
        assert st.versions == start.versions and st.current == start.current and st.tests == start.tests
        if st.digest == start.digest:
            tally.untouched += 1
            return
        # committed: the whole round — 3 suggestions, each with its new proposed sample
        assert len(st.suggestions) == N_SUGGEST, f"{len(st.suggestions)} suggestions"
        new_samples = set(st.samples) - set(start.samples)
        assert {smp for smp, _ in st.suggestions.values()} == new_samples
        assert all(st.samples[s] == "proposed" for s in new_samples)
        assert {mv for _, mv in st.suggestions.values()} == set(start.versions)
        assert st.audits == start.audits + 1
        tally.committed += 1
        tally.reruns += 1
        r = invoke(path, *args)
        assert r.exit_code == 0, f"re-run after the kill: {r.output}"
        assert len(read_state(path).suggestions) == 2 * N_SUGGEST

    run_kills(
        "suggest",
        args,
        db,
        check,
        tally,
        seed=22,
        scratch=new_url("measure"),
        n_trials=N_TRIALS if backend == "sqlite" else PG_TRIALS,
    )


# ---------------------------------------------------------------- log --finetune
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_log_finetune_survives_sigkill(bases, tmp_path: Path, backend: str, new_url) -> None:
    from drxlab.chem.compositions import amounts

    db = copy_store(bases["suggested"], new_url("lab"))
    target = bases["waiting"][0]
    sid = target["sample_id"]
    measured = write_drx_td(tmp_path / "measured.json", composition=amounts(target["formula"]), cycles=3)
    # 2 epochs, not 20: the fine-tune's length does not change what is written or when (the kills
    # are spread over the measured length of the command, whatever it is)
    args = ["log", "--sample", str(sid), str(measured), "--finetune", "--finetune-epochs", "2"]
    start = read_state(db)
    assert start.samples[sid] == "proposed" and len(start.versions) == 1
    (parent,) = start.versions
    tally = Tally()

    def check(path: Path) -> None:
        st = read_state(path)
        assert st.suggestions == start.suggestions
        others = {k: v for k, v in st.samples.items() if k != sid}
        assert others == {k: v for k, v in start.samples.items() if k != sid}
        for s_, _ in st.suggestions.values():  # suggested samples: proposed, or the one logged: tested
            assert st.samples[s_] == ("proposed" if s_ != sid else st.samples[sid])
        if st.samples[sid] == "proposed":
            # nothing of the log: no test, no version (digest-equal = no row changed at all)
            assert st.tests == start.tests and st.versions == start.versions
            assert st.digest == start.digest, "sample still proposed but the store changed"
            tally.untouched += 1
            return
        # committed: tested with its test (all 3 cycles) AND the fine-tuned version — atomically
        assert st.samples[sid] == "tested", st.samples[sid]
        new_tests = {t: v for t, v in st.tests.items() if t not in start.tests}
        assert list(new_tests.values()) == [(sid, 3)], new_tests
        assert len(st.versions) == len(start.versions) + 1, "sample tested without its fine-tuned version"
        (new,) = set(st.versions) - set(start.versions)
        assert st.versions[new][1:] == ("finetuned", parent) and st.current[""] == new
        assert st.audits == start.audits + 1
        tally.committed += 1
        # the same command again: refused (already tested), nothing written
        r = invoke(path, *args)
        assert r.exit_code == 1 and "already tested" in r.output, r.output
        assert store_digest(path) == st.digest
        # with --replace the sample is logged again and fine-tuned again
        tally.reruns += 1
        r = invoke(path, *args, "--replace")
        assert r.exit_code == 0, f"re-log with --replace after the kill: {r.output}"
        again = read_state(path)
        assert again.samples[sid] == "tested" and len(again.versions) == len(start.versions) + 2

    run_kills(
        "log --finetune",
        args,
        db,
        check,
        tally,
        seed=33,
        scratch=new_url("measure"),
        n_trials=N_TRIALS if backend == "sqlite" else PG_TRIALS,
    )
