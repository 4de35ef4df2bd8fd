"""simulate --executor ray: each (strategy, seed) campaign a Ray task, the same syntheses as the
local executor, which also runs every campaign alone in a copy of its seed's starting store and
merges the stores at the end; the work the campaigns share (the truth over the space, each seed's
start) is done once, as locally."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from drxlab.cli.main import cli
from drxlab.executors import Executor
from drxlab.lab.oracle import Oracle, synthetic_oracle
from drxlab.lab.synthesis import SynthesisRules
from drxlab.store.db import open_store
from drxlab.store.merge import merge_stores
from drxlab.workflow.ray_simulate import simulate_on_ray
from drxlab.workflow.simulate import run_simulation
from tests.conftest import query, store_digest
from tests.factories import campaign_toml

TINY = campaign_toml("simtiny", {"Mn3+": 0.3, "Cr3+": 0.2, "Ti4+": 0.3, "Nb5+": 0.2}, f=(0.0, 0.1), batch=2)
PLAN = {"rounds": 2, "batch": 2, "n_start": 8, "start_epochs": 1, "finetune_epochs": 1}


@pytest.mark.slow  # trains and fine-tunes 4 tiny ensembles (~40 s on 2 free cores)
def test_ray_campaigns_make_the_local_syntheses(ray_local, tmp_path: Path) -> None:
    spec = tmp_path / "simtiny.toml"
    spec.write_text(TINY)
    # with synthesis failures: in one shared store a campaign's P(feasible) once read the oxidation
    # states another campaign had stored on a material row, and Ray's campaigns differed
    plan = {**PLAN, "synthesis": SynthesisRules()}
    store = open_store(tmp_path / "local.sqlite")
    # two strategies: each seed's starting data are in both of its tasks' stores, merged once
    local = run_simulation(
        store, spec, _logged(tmp_path / "local.log"), strategies=["ucb", "random"], seeds=[0, 1], **plan
    ).runs
    store.engine.dispose()
    ray_log = tmp_path / "ray.log"
    res = simulate_on_ray(
        Executor("ray"), tmp_path, spec, _logged(ray_log), strategies=["ucb", "random"], seeds=[0, 1], **plan
    )
    assert [(r.strategy, r.seed) for r in res.runs] == [(r.strategy, r.seed) for r in local]
    assert {(r.strategy, r.seed) for r in res.runs} == {(k, s) for k in ("ucb", "random") for s in (0, 1)}
    # the oracle did on Ray exactly the work it did locally: the truth over the space once, each
    # seed's starting data once (not once per strategy), the same syntheses
    assert sorted(ray_log.read_text().split()) == sorted((tmp_path / "local.log").read_text().split())
    assert sum(w.startswith("space:") for w in ray_log.read_text().split()) == 1
    assert [r.made for r in res.runs] == [r.made for r in local]
    assert [r.failures for r in res.runs] == [r.failures for r in local]
    assert any(r.failed_syntheses for r in local)  # the failures this comparison is about
    assert [r.true_best for r in res.runs] == [r.true_best for r in local]
    assert [r.model_mae for r in res.runs] == [r.model_mae for r in local]  # the fine-tuned models agree
    for seed in (0, 1):
        db = tmp_path / "campaigns" / f"simtiny-ucb-s{seed}.sqlite"
        with sqlite3.connect(db) as con:
            (n,) = con.execute("select count(*) from suggestion").fetchone()
        assert n == 4  # 2 rounds x 2, recorded in the campaign's own store
    # and merged into OUT/simulation.sqlite: the local store's campaigns, samples, tests, suggestions
    assert _content(tmp_path / "simulation.sqlite") == _content(tmp_path / "local.sqlite")


def _logged(log: Path) -> Oracle:
    """The synthetic oracle, writing each call to ``log`` (from any Ray worker: appends of one line)."""
    base = synthetic_oracle()

    def raw(amts, rate, lo, hi, cyc):
        with log.open("a") as f:
            f.write(f"raw:{sorted(amts.items())}:{rate}:{cyc}\n".replace(" ", ""))
        return base.raw(amts, rate, lo, hi, cyc)

    def capacities(comps, rate, lo, hi, cyc):
        with log.open("a") as f:
            f.write(f"space:{len(comps)}\n")
        return base.capacities(comps, rate, lo, hi, cyc)

    return Oracle("synthetic", raw, capacities)


def _content(db: Path) -> dict[str, list[str]]:
    """What the campaigns made, by name and formula (ids differ between the two stores)."""
    of_sample = (
        "from sample s join material m on m.id = s.material_id left join campaign c on c.id = s.campaign_id"
    )
    sql = {
        "campaign": "select name, revision, spec_hash from campaign",
        "sample": f"select c.name, m.formula, s.status, s.round, s.failure_reason {of_sample}",
        "test": "select c.name, m.formula, t.rate, t.v_low, t.v_high, t.virtual, "
        "(select group_concat(p.capacity) from profile p where p.test_id = t.id) "
        "from electrochemtest t join sample s on s.id = t.sample_id join material m on m.id = s.material_id "
        "left join campaign c on c.id = s.campaign_id",
        "suggestion": "select c.name, m.formula, g.rank, g.predicted, g.predicted_std, g.acq_value "
        "from suggestion g join sample s on s.id = g.sample_id join material m on m.id = s.material_id "
        "join campaign c on c.id = g.campaign_id",
    }
    with sqlite3.connect(db) as con:
        got = {k: sorted(map(repr, con.execute(q))) for k, q in sql.items()}
    assert got["sample"] and got["test"] and got["suggestion"]
    return got


@pytest.mark.slow  # one tiny campaign on each executor (~10 s)
def test_bench_simulate_times_both_executors_in_one_run(ray_local, tmp_path: Path) -> None:
    spec = tmp_path / "simtiny.toml"
    spec.write_text(TINY)
    args = ["bench", "simulate", "--campaign", spec, "--strategies", "random", "--seeds", "1"]
    args += ["--rounds", "1", "--batch", "2", "--start-epochs", "1", "--n-start", "8", "--json"]
    res = CliRunner().invoke(cli, [*map(str, args), "--executor", "ray"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["campaigns"] == 1 and got["same_syntheses"] is True and got["campaigns_differing"] == []
    assert got["local_total_s"] > 0 and got["ray_total_s"] > 0
    assert got["ray_over_local_time"] == pytest.approx(got["ray_total_s"] / got["local_total_s"])
    # the comparison needs Ray: the local executor alone is refused before any work
    res = CliRunner().invoke(cli, [*map(str, args), "--executor", "local"])
    assert res.exit_code != 0 and "pass --executor ray" in res.output


@pytest.mark.slow  # two tiny Ray simulations (~20 s)
def test_ray_campaigns_land_in_a_postgresql_db_all_or_nothing(ray_local, pg_server, tmp_path: Path) -> None:
    spec = tmp_path / "simtiny.toml"
    spec.write_text(TINY)
    url = pg_server.new_database()
    out = tmp_path / "out"
    args = ["--db", url, "simulate", "--campaign", spec, "--strategies", "random,ucb", "--seeds", "1"]
    args += ["--batch", "2", "--n-start", "8", "--start-epochs", "1", "--out", out, "--executor", "ray"]
    res = CliRunner().invoke(cli, [*map(str, args), "--rounds", "1"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "campaigns merged into postgresql" in res.output and not (out / "simulation.sqlite").exists()
    merge_stores(sorted((out / "campaigns").glob("*.sqlite")), tmp_path / "merged.sqlite")
    sql = "select c.name, m.formula, s.status from sample s join material m on m.id = s.material_id "
    sql += "join campaign c on c.id = s.campaign_id"
    got = sorted(query(url, sql))
    assert got == sorted(query(tmp_path / "merged.sqlite", sql))
    assert {name for name, _, _ in got} == {"start-s0", "simtiny-random-s0", "simtiny-ucb-s0"}
    # 2 rounds under the same campaign names: other rows than the database holds, so the merge
    # fails and neither the database nor OUT/campaigns changes
    before, files = store_digest(url), sorted(p.read_bytes() for p in (out / "campaigns").iterdir())
    res = CliRunner().invoke(cli, [*map(str, args), "--rounds", "2"])
    assert res.exit_code != 0 and "Error: cannot merge" in res.output and "differs" in res.output
    assert store_digest(url) == before
    assert sorted(p.read_bytes() for p in (out / "campaigns").iterdir()) == files
