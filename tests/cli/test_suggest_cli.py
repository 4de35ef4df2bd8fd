"""`drxlab suggest` with the released ensemble on small campaign files: rankings, diversity,
exclusion of made samples, reproducibility and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import store_digest, without_store_line
from tests.factories import campaign_toml

pytestmark = pytest.mark.both_backends  # every test using `run` runs on SQLite and PostgreSQL

SPECIES = {"Mn3+": 0.3, "Cr3+": 0.2, "Ti4+": 0.3, "Nb5+": 0.2, "Mg2+": 0.1}


def campaign(tmp_path: Path, name: str = "small", species: dict | None = None, min_metals: int = 3) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(campaign_toml(name, species or SPECIES, metals=(min_metals, 4)))
    return path


@pytest.fixture
def released(run, upstream: Path):
    assert run("model", "import-drxnet", upstream / "pretrained").exit_code == 0
    return run


def _suggest(run, *args) -> dict:
    r = run("suggest", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def _predict(run, formulas: list[str]) -> list[dict]:
    return json.loads(run("predict", *formulas, "--json").output)


@pytest.mark.parametrize(
    ("kind", "score"),
    [("greedy", lambda m, s: m), ("explore", lambda m, s: s), ("ucb", lambda m, s: m + 2.0 * s)],
)
def test_rankings_match_predict(released, tmp_path: Path, kind: str, score) -> None:
    spec = campaign(tmp_path)
    out = _suggest(released, "--campaign", spec, "-n", "5", "--acq", kind, "--kappa", "2")
    rows = out["rows"]
    assert len(rows) == 5
    preds = _predict(released, [r["formula"] for r in rows])
    for r, p in zip(rows, preds):
        assert r["predicted"] == pytest.approx(p["capacity_mAh_g"], abs=0.05)
        assert r["sigma"] == pytest.approx(p["sigma_mAh_g"], abs=0.05)
    # acquisition ranks by the calibrated posterior, which predict shows from the stored record
    scores = [score(p["capacity_calibrated_mAh_g"], p["sigma_calibrated_mAh_g"]) for p in preds]
    assert all(p["sigma_calibrated_mAh_g"] >= p["sigma_mAh_g"] for p in preds)
    assert scores == sorted(scores, reverse=True)
    # the first pick is the best-scoring candidate of the whole space
    from drxlab.candidates.generator import candidate_formulas, iter_candidates
    from drxlab.candidates.spec import load_spec

    formulas = [f for b in iter_candidates(load_spec(spec)) for f in candidate_formulas(b)]
    allp = _predict(released, formulas)
    best = max(score(p["capacity_calibrated_mAh_g"], p["sigma_calibrated_mAh_g"]) for p in allp)
    assert scores[0] == pytest.approx(best, abs=0.05)


def test_batch_is_diverse_and_new_rounds_exclude_suggested(released, tmp_path: Path) -> None:
    spec = campaign(tmp_path)
    first = _suggest(released, "--campaign", spec, "-n", "4", "--min-distance", "0.3")
    x = [np.array(list(json.loads(json.dumps(r["oxidation_states"])).values())) for r in first["rows"]]
    assert first["min_distance"] >= 0.3 - 1e-9 and len(x) == 4
    second = _suggest(released, "--campaign", "small", "-n", "4")
    assert second["round"] == first["round"] + 1
    assert not {r["formula"] for r in first["rows"]} & {r["formula"] for r in second["rows"]}
    status = json.loads(released("status", "--campaign", "small", "--json").output)
    assert status["samples"]["proposed"] == 8


def test_same_state_and_seed_give_same_suggestions(released, tmp_path: Path, db_url: str, new_url) -> None:
    spec = campaign(tmp_path)
    copy = new_url("copy")
    assert released("db", "copy", db_url, copy).exit_code == 0
    a = _suggest(released, "--campaign", spec, "-n", "4", "--acq", "thompson", "--seed", "7")
    b = json.loads(
        released(
            "suggest", "--campaign", spec, "-n", "4", "--acq", "thompson", "--seed", "7", "--json", db=copy
        ).output
    )
    assert [r["formula"] for r in a["rows"]] == [r["formula"] for r in b["rows"]]


def test_changed_campaign_file_is_a_new_revision(released, tmp_path: Path) -> None:
    spec = campaign(tmp_path)
    _suggest(released, "--campaign", spec, "-n", "2")
    spec.write_text(spec.read_text().replace("batch = 4", "batch = 3"))
    out = _suggest(released, "--campaign", spec)
    assert out["revision"] == 2 and len(out["rows"]) == 3
    revs = json.loads(released("campaign", "list", "--json").output)
    assert [r["revision"] for r in revs] == [1, 2]


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("unknown species", "Xx"),
        ("bad oxidation state", "Mn9+"),
        ("empty space", "min_metals"),
        ("n<1", "must be"),
        ("no model", "drxlab train"),
    ],
)
def test_bad_input_writes_nothing(
    run, upstream: Path, tmp_path: Path, db_url: str, case: str, fragment: str
) -> None:
    if case != "no model":
        run("model", "import-drxnet", upstream / "pretrained")
    species = {"unknown species": {**SPECIES, "Xx2+": 0.1}, "bad oxidation state": {**SPECIES, "Mn9+": 0.1}}
    spec = campaign(
        tmp_path, species=species.get(case, SPECIES), min_metals=7 if case == "empty space" else 3
    )
    before = store_digest(db_url)
    r = run("suggest", "--campaign", spec, "-n", "0" if case == "n<1" else "3")
    assert r.exit_code != 0 and without_store_line(r.output).startswith("Error:")
    assert fragment in r.output
    assert store_digest(db_url) == before
