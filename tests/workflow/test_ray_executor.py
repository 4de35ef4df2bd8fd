"""--executor ray: the same suggestions as the local executor, crash retries and clear refusals.

One private Ray instance serves the session (``ray_local`` in conftest); the space (2,841
candidates) is cut into blocks of 500 so two workers share several blocks each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from drxlab.candidates.spec import load_spec
from drxlab.cli.main import cli
from drxlab.executors import Executor, ExecutorError, import_ray, parse_executor
from drxlab.model.ensemble import Ensemble
from drxlab.model.io import load_released_ensemble
from drxlab.store.db import open_store
from drxlab.workflow import models
from drxlab.workflow.ray_screen import Acquisition, ray_screen, screen_for_round
from drxlab.workflow.screening import screen
from drxlab.workflow.suggest import suggest
from tests.conftest import UPSTREAM, db_digest, require_shared
from tests.factories import campaign_toml

SPECIES = {"Mn3+": 0.3, "Cr3+": 0.2, "Ti4+": 0.3, "Nb5+": 0.2, "Mg2+": 0.1, "Ni2+": 0.1, "V3+": 0.2}
BLOCK = 500


@pytest.fixture(scope="module")
def ensemble() -> Ensemble:
    return load_released_ensemble(require_shared(UPSTREAM / "pretrained"))


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ray") / "wide.toml"
    path.write_text(campaign_toml("wide", SPECIES, metals=(3, 5), f=(0.0, 0.2), batch=6, min_distance=0.3))
    return path


def _rounds(ensemble: Ensemble, campaign: Path, executor: Executor | None, marker: Path | None = None):
    """One round per kind (ucb, then logei with nothing measured), each on a fresh store (no
    pending samples: Ray ranks by the raw posterior only); the rows as dicts.

    With ``marker``, a ray worker kills its own process mid-block in the first round.
    """
    out = []
    for kind in ("ucb", "logei"):
        st = open_store("sqlite://")
        spec = load_spec(campaign)
        with st.transaction() as s:
            models.register(s, ensemble, source="released")
        with st.reader() as s:
            if executor is None:
                scored = screen(spec, ensemble, chunk=BLOCK)
            else:
                crash = str(marker) if marker and kind == "ucb" else None
                scored = screen_for_round(
                    s, spec, ensemble, executor, kind=kind, block=BLOCK, crash_marker=crash
                )
        with st.transaction() as s:
            rnd = suggest(s, spec, kind=kind, scored=scored, calibration="none")
        out.append(rnd.as_dict())
        st.engine.dispose()
    return out


def test_ray_suggestions_equal_local_ones_even_after_a_worker_crash(
    ray_local, ensemble: Ensemble, campaign: Path, tmp_path: Path
) -> None:
    local = _rounds(ensemble, campaign, None)
    marker = tmp_path / "crashed"
    distributed = _rounds(ensemble, campaign, Executor("ray"), marker)
    assert marker.exists()  # a worker did die mid-block; Ray restarted it and the driver re-screened
    assert [len(r["rows"]) for r in local] == [6, 6]
    assert local[0]["n_candidates"] == 2841
    # every field: formulas, predictions, σ, acquisition values, domain flags, round numbers
    assert distributed == local


def test_whole_space_kinds_are_refused_with_the_ones_that_work(ensemble: Ensemble, campaign: Path) -> None:
    acq = Acquisition("thompson", 4, 2.0, 0.0, 0.1, None)
    with pytest.raises(ExecutorError, match="thompson.*local executor.*ucb"):
        ray_screen(load_spec(campaign), ensemble, Executor("ray"), acq)


def test_executor_names() -> None:
    assert parse_executor(None) == Executor("local")
    assert parse_executor("ray") == Executor("ray")
    assert parse_executor("ray:auto") == Executor("ray", "auto")
    with pytest.raises(ExecutorError, match="expected local, ray"):
        parse_executor("dask")


def _cli(db: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db), *args])


@pytest.fixture
def lab_db(tmp_path: Path, upstream: Path, campaign: Path) -> Path:
    db = tmp_path / "lab.sqlite"
    assert _cli(db, "model", "import-drxnet", str(upstream / "pretrained")).exit_code == 0
    assert _cli(db, "campaign", "add", str(campaign)).exit_code == 0
    return db


def test_unreachable_cluster_is_one_error_line_and_nothing_is_written(lab_db: Path) -> None:
    before = db_digest(lab_db)
    r = _cli(
        lab_db, "suggest", "--campaign", "wide", "--calibration", "none", "--executor", "ray:127.0.0.1:1"
    )
    assert r.exit_code == 1
    assert "Error: --executor ray:127.0.0.1:1: no Ray cluster answers there" in r.output
    assert db_digest(lab_db) == before


def test_without_ray_installed_the_message_says_how_to_install(
    lab_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ExecutorError, match=r"pip install 'drxlab\[ray\]'"):
        import_ray()
    before = db_digest(lab_db)
    r = _cli(lab_db, "suggest", "--campaign", "wide", "--calibration", "none", "--executor", "ray")
    assert r.exit_code == 1 and "pip install 'drxlab[ray]'" in r.output
    assert db_digest(lab_db) == before
    args = ["--db", str(lab_db), "suggest", "--campaign", "wide"]
    r = CliRunner().invoke(cli, args, env={"DRXLAB_EXECUTOR": "spark"})
    assert r.exit_code != 0 and "expected local, ray" in r.output


def test_a_round_ray_cannot_rank_exactly_is_refused_before_screening(lab_db: Path) -> None:
    """Calibrated σ (the default) and pending samples change the ranking per candidate in ways the
    workers do not compute yet: refused with the way out, nothing written."""
    before = db_digest(lab_db)
    r = _cli(lab_db, "suggest", "--campaign", "wide", "--executor", "ray")
    assert r.exit_code == 1 and "'gp'-calibrated posterior" in r.output and "--executor local" in r.output
    assert db_digest(lab_db) == before
    assert _cli(lab_db, "suggest", "--campaign", "wide", "-n", "2", "--calibration", "none").exit_code == 0
    before = db_digest(lab_db)
    r = _cli(lab_db, "suggest", "--campaign", "wide", "--calibration", "none", "--executor", "ray")
    assert r.exit_code == 1 and "2 pending sample(s)" in r.output
    assert db_digest(lab_db) == before


def test_count_on_ray_equals_the_local_count(ray_local, campaign: Path, tmp_path: Path) -> None:
    db = tmp_path / "none.sqlite"
    local = _cli(db, "candidates", "--campaign", str(campaign), "--count")
    distributed = _cli(db, "candidates", "--campaign", str(campaign), "--count", "--executor", "ray")
    assert local.exit_code == 0 and distributed.exit_code == 0, distributed.output
    assert distributed.output.strip() == local.output.strip() == "2841"


def test_the_test_instance_listens_on_loopback_only(ray_local) -> None:
    assert {n["NodeManagerAddress"] for n in ray_local.nodes()} == {"127.0.0.1"}
