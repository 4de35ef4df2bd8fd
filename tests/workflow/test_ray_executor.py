"""--executor ray: the same suggestions as the local executor (raw, calibrated, P(feasible)-weighted,
with pending samples), crash retries and clear refusals.

One private Ray instance serves the session (``ray_local`` in conftest); the space (2,841
candidates) is cut into blocks of 500 so two workers share several blocks each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from drxlab.candidates.spec import load_spec
from drxlab.chem import compositions
from drxlab.cli.main import cli
from drxlab.executors import Executor, ExecutorError, import_ray, parse_executor
from drxlab.model.ensemble import Ensemble
from drxlab.model.io import load_released_ensemble
from drxlab.store import queries
from drxlab.store.db import open_store
from drxlab.vocabulary import SampleStatus
from drxlab.workflow import campaigns, models
from drxlab.workflow.ingest import material
from drxlab.workflow.ray_screen import Acquisition, ray_screen, screen_for_round
from drxlab.workflow.screening import screen
from drxlab.workflow.suggest import suggest
from tests.conftest import UPSTREAM, db_digest, require_shared
from tests.factories import add_tested, campaign_toml

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
    """One round per kind (ucb, then logei with nothing measured), each on a fresh store (the
    calibration's conservative prior: nothing measured yet); the rows as dicts.

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
            rnd = suggest(s, spec, kind=kind, scored=scored)
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


def _lab_with_history(ensemble: Ensemble, spec, formulas: list[str]):
    """A store where the campaign has 6 measured compositions (the residual GP is fitted, not the
    fallback), 3 failed syntheses with 6 successes (P(feasible) is learned) and 2 pending samples."""
    st = open_store("sqlite://")
    with st.transaction() as s:
        models.register(s, ensemble, source="released")
        camp, _ = campaigns.register(s, spec)
        for i, f in enumerate(formulas[100:700:100]):
            add_tested(s, f, {1: 180.0 + 15 * i}, campaign_id=camp.id)
        for f in formulas[2000:2900:300]:  # F-rich corner failed
            smp = queries.add_sample(s, material(s, f, compositions.amounts(f), {}).id, campaign_id=camp.id)
            queries.mark_failed(s, smp, "f_not_incorporated", "LiF in XRD")
        for f in formulas[1200:1700:400]:
            mat = material(s, f, compositions.amounts(f), {})
            queries.add_sample(s, mat.id, campaign_id=camp.id, status=SampleStatus.PROPOSED, round=1)
    return st


def test_calibrated_feasibility_weighted_pending_rounds_equal_local_ones(
    ray_local, ensemble: Ensemble, campaign: Path
) -> None:
    """The default posterior (gp-calibrated σ, P(feasible), pending samples fantasised) is applied
    by the workers: every field of the round equals the local one, bit for bit."""
    spec = load_spec(campaign)
    local_screen = screen(spec, ensemble, chunk=BLOCK)
    formulas = [
        compositions.format_formula(dict(zip(local_screen.elements, r))) for r in local_screen.X.tolist()
    ]
    for kind in ("ucb",):  # logei (log-scaled weighting): the command-line test below
        rounds = []
        for executor in (None, Executor("ray")):
            st = _lab_with_history(ensemble, spec, formulas)
            with st.reader() as s:
                scored = (
                    local_screen
                    if executor is None
                    else screen_for_round(s, spec, ensemble, executor, kind=kind, block=BLOCK)
                )
            with st.transaction() as s:
                rounds.append(suggest(s, spec, kind=kind, scored=scored).as_dict())
            st.engine.dispose()
        local, distributed = rounds
        assert local["calibration"]["method"] == "gp" and not local["calibration"]["fallback"]
        assert local["feasibility"].startswith("feasibility: logistic on 6 successful / 3 failed")
        assert local["pending"] == 2 and len(local["rows"]) == 6
        assert all(0 < r["p_feasible"] < 1 and r["sigma_calibrated"] >= r["sigma"] for r in local["rows"])
        # the GP widens σ where it is unsure (σ_cal = max(σ_Q, √v_GP)): somewhere, not nowhere
        assert any(r["sigma_calibrated"] > r["sigma"] for r in local["rows"])
        assert distributed == local


def test_the_default_round_runs_on_ray_from_the_command_line(ray_local, lab_db: Path, tmp_path: Path) -> None:
    """gp calibration is the default; a logei round with the first round's samples pending."""
    assert _cli(lab_db, "suggest", "--campaign", "wide", "-n", "3").exit_code == 0
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(lab_db.read_bytes())
    out = []
    for db, extra in ((lab_db, ()), (copy, ("--executor", "ray"))):
        r = _cli(db, "suggest", "--campaign", "wide", "-n", "3", "--acq", "logei", "--json", *extra)
        assert r.exit_code == 0, r.output
        out.append(r.output)
    local, distributed = (json.loads(o) for o in out)
    assert local["pending"] == 3 and local["calibration"]["fallback"]
    assert distributed == local


def test_count_on_ray_equals_the_local_count(ray_local, campaign: Path, tmp_path: Path) -> None:
    db = tmp_path / "none.sqlite"
    local = _cli(db, "candidates", "--campaign", str(campaign), "--count")
    distributed = _cli(db, "candidates", "--campaign", str(campaign), "--count", "--executor", "ray")
    assert local.exit_code == 0 and distributed.exit_code == 0, distributed.output
    assert distributed.output.strip() == local.output.strip() == "2841"


def test_the_test_instance_listens_on_loopback_only(ray_local) -> None:
    assert {n["NodeManagerAddress"] for n in ray_local.nodes()} == {"127.0.0.1"}
