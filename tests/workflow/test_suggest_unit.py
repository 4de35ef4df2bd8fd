"""drxlab.workflow.suggest on small in-memory stores with the released ensemble.

The Li-Mn-O-F campaign space (294 candidates) is screened once per module and passed to every
round (``scored=``), so each test pays only for selection and recording.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from drxlab.candidates.spec import CampaignSpec, load_spec, parse_spec
from drxlab.chem import compositions
from drxlab.exceptions import CampaignError
from drxlab.model.ensemble import Ensemble
from drxlab.model.io import load_released_ensemble
from drxlab.profiles.process import energy_density
from drxlab.store import queries
from drxlab.store.db import Store, open_store
from drxlab.store.tables import Sample, Suggestion
from drxlab.vocabulary import SampleStatus
from drxlab.workflow import campaigns, models
from drxlab.workflow.screening import Screen, screen
from drxlab.workflow.suggest import Round, best_measured, suggest
from tests.conftest import UPSTREAM, require_shared
from tests.factories import add_tested, campaign_toml, parsed_profiles

CAMPAIGN = Path(__file__).resolve().parents[2] / "campaigns" / "li-mn-o-f.toml"


@pytest.fixture(scope="module")
def ensemble() -> Ensemble:
    return load_released_ensemble(require_shared(UPSTREAM / "pretrained"))


@pytest.fixture(scope="module")
def scored(ensemble: Ensemble) -> Screen:
    return screen(load_spec(CAMPAIGN), ensemble)


def new_store(ensemble: Ensemble | None = None) -> Store:
    """A fresh in-memory store, with ``ensemble`` registered as the lab-wide model."""
    st = open_store("sqlite://")
    if ensemble is not None:
        with st.transaction() as s:
            models.register(s, ensemble, source="released")
    return st


@pytest.fixture
def lab(ensemble: Ensemble) -> Iterator[Store]:
    st = new_store(ensemble)
    yield st
    st.engine.dispose()


def run(st: Store, scored: Screen, campaign: Path = CAMPAIGN, **overrides: object) -> Round:
    with st.transaction() as s:
        return suggest(s, str(campaign), scored=scored, **overrides)


def rnd_typical(sc: Screen) -> float:
    return float(abs(np.median(sc.Y[..., 0].mean(0))))


def formulas_of(sc: Screen) -> list[str]:
    return [compositions.format_formula(dict(zip(sc.elements, row))) for row in sc.X.tolist()]


# ---------------------------------------------------------------- best measured value
def test_best_measured_counts_only_the_campaign_at_the_objective_rate_and_cycle() -> None:
    st = new_store()
    with st.transaction() as s:
        camp, spec, _ = campaigns.add(s, CAMPAIGN)
        assert best_measured(s, [camp.id], spec) is None
        add_tested(s, "Li1.2Mn0.8O2", {1: 250.0}, campaign_id=camp.id)
        add_tested(s, "Li1.3Mn0.7O2", {1: 262.5, 2: 240.0}, campaign_id=camp.id)
        add_tested(s, "Li1.1Mn0.9O2", {1: 300.0}, campaign_id=camp.id, rate=100.0)  # another rate
        add_tested(s, "Li1.25Mn0.75O2", {2: 500.0}, campaign_id=camp.id)  # no cycle-1 profile
        add_tested(s, "Li1.3Mn0.7O2", {1: 600.0}, campaign_id=camp.id, status=SampleStatus.REPLACED)
        add_tested(s, "Li1.15Mn0.85O2", {1: 400.0})  # outside the campaign
        assert best_measured(s, [camp.id], spec) == pytest.approx(262.5)
        assert best_measured(s, [], spec) is None
        older, _ = queries.add_campaign_revision(s, camp.name, "older text", "older")
        add_tested(s, "Li1.05Mn0.95O2", {1: 270.0}, campaign_id=older.id)
        assert best_measured(s, [camp.id], spec) == pytest.approx(262.5)
        assert best_measured(s, queries.campaign_ids(s, camp.name), spec) == pytest.approx(270.0)


def _primary(kind_lines: str) -> CampaignSpec:
    """The Li-Mn-O-F campaign with another primary objective."""
    text = CAMPAIGN.read_text().replace("[objectives.capacity]", f"[objectives.primary]\n{kind_lines}", 1)
    text = text.replace("rate = 20                       # mA/g", "rate = 100", 1)
    return parse_spec(text, source="test")


def test_best_measured_energy_objective_is_an_energy() -> None:
    spec = _primary('kind = "energy"')
    st = new_store()
    with st.transaction() as s:
        camp, _ = queries.add_campaign_revision(s, spec.name, spec.text, spec.sha256)
        add_tested(s, "Li1.2Mn0.8O2", {1: 250.0}, campaign_id=camp.id, rate=100.0)
        p = parsed_profiles({1: 250.0})[0].profile
        want = float(energy_density(p.voltage, p.capacity_curve))  # mWh/g, not the 250 mAh/g
        assert best_measured(s, [camp.id], spec) == pytest.approx(want)
        assert want > 500


def test_best_measured_retention_objective_is_a_ratio_per_sample() -> None:
    spec = _primary('kind = "retention"\nbase_rate = 20')
    st = new_store()
    with st.transaction() as s:
        camp, _ = queries.add_campaign_revision(s, spec.name, spec.text, spec.sha256)
        for formula, fast, slow in (("Li1.2Mn0.8O2", 150.0, 250.0), ("Li1.3Mn0.7O2", 200.0, 250.0)):
            sid = add_tested(s, formula, {1: slow}, campaign_id=camp.id, rate=20.0).sample_id
            queries.add_test(s, sid, rate=100.0, v_low=1.5, v_high=4.8, profiles=parsed_profiles({1: fast}))
        add_tested(s, "Li1.1Mn0.9O2", {1: 290.0}, campaign_id=camp.id, rate=100.0)  # no base-rate test
        assert best_measured(s, [camp.id], spec) == pytest.approx(0.8)


# ---------------------------------------------------------------- a round
def test_suggest_records_the_batch_as_proposed_samples(lab: Store, scored: Screen) -> None:
    rnd = run(lab, scored, seed=7, calibration="none")  # the raw ensemble: UCB is exactly mean + κ σ_Q
    assert (rnd.campaign, rnd.revision, rnd.round, rnd.kind) == ("li-mn-o-f", 1, 1, "ucb")
    assert rnd.n_candidates == len(scored.X) == 294 and rnd.warning is None
    assert len(rnd.rows) == 4  # batch = 4 in the campaign file
    kappa = rnd.params["kappa"]
    space = set(formulas_of(scored))
    for row in rnd.rows:
        assert row.formula in space and compositions.normalise(row.formula) == row.formula
        assert row.acquisition == pytest.approx(row.predicted + kappa * row.sigma)
    acq = [r.acquisition for r in rnd.rows]
    assert acq == sorted(acq, reverse=True)
    ucb = scored.Y[..., 0].mean(0) + kappa * scored.Y[..., 0].std(0)
    assert rnd.rows[0].formula == formulas_of(scored)[int(np.argmax(ucb))]  # the best of the space first
    with lab.reader() as s:
        ids = queries.campaign_ids(s, "li-mn-o-f")
        recorded = queries.suggestions(s, ids)
        assert [(m.formula, sug.rank) for sug, _, m in recorded] == [(r.formula, r.rank) for r in rnd.rows]
        for (sug, smp, _), row in zip(recorded, rnd.rows):
            assert (smp.id, smp.status, smp.round, smp.campaign_id) == (row.sample_id, "proposed", 1, ids[0])
            assert (sug.acquisition, sug.seed, sug.model_version_id) == ("ucb", 7, rnd.model_version)
            assert sug.predicted == pytest.approx(row.predicted) and sug.acq_value == pytest.approx(
                row.acquisition
            )
            params = json.loads(sug.params_json)
            assert params["kappa"] == kappa and params["spec_sha256"] == load_spec(CAMPAIGN).sha256
            assert json.loads(sug.objectives_json).keys() == {"capacity", "capacity_30"}


def test_next_round_excludes_made_and_suggested_formulas(lab: Store, scored: Screen) -> None:
    first = run(lab, scored, kind="greedy")
    taken = {r.formula for r in first.rows}
    by_mean = [formulas_of(scored)[i] for i in np.argsort(-scored.Y[..., 0].mean(0), kind="stable")]
    made = next(f for f in by_mean if f not in taken)  # the best one left, made outside the campaign
    with lab.transaction() as s:
        add_tested(s, made, {1: 200.0})
    second = run(lab, scored, kind="greedy")
    assert second.round == first.round + 1
    got = {r.formula for r in second.rows}
    assert not got & (taken | {made})
    # the first batch is pending: the best candidate left that keeps min_distance from it
    X, gap = dict(zip(formulas_of(scored), scored.X)), first.params["min_distance"]
    far = [f for f in by_mean if min(np.abs(X[f] - X[t]).sum() for t in taken) >= gap]
    assert second.rows[0].formula == next(f for f in far if f not in taken | {made})
    assert second.pending == len(first.rows) and second.pending_distance >= first.params["min_distance"]
    assert made in {r.nearest for r in second.rows}  # the tested material is the known neighbour
    with lab.reader() as s:
        assert len(s.exec(select(Suggestion)).all()) == 8


def test_same_store_and_seed_give_the_same_batch(ensemble: Ensemble, scored: Screen) -> None:
    batches = []
    for seed in (3, 3, 4):
        st = new_store(ensemble)
        rnd = run(st, scored, kind="thompson", seed=seed)
        batches.append([(r.formula, r.acquisition) for r in rnd.rows])
        st.engine.dispose()
    assert batches[0] == batches[1]
    assert [f for f, _ in batches[0]] != [f for f, _ in batches[2]]


def test_overrides_replace_the_campaign_acquisition(lab: Store, scored: Screen) -> None:
    rnd = run(lab, scored, n=2, kind="ucb", kappa=5.0, min_distance=0.2, seed=1)
    assert (rnd.kind, len(rnd.rows)) == ("ucb", 2)
    assert (rnd.params["kappa"], rnd.params["batch"], rnd.params["min_distance"]) == (5.0, 2, 0.2)
    assert rnd.min_distance >= 0.2 - 1e-9
    for row in rnd.rows:  # calibrated by default; nothing measured yet: the conservative prior
        assert row.acquisition == pytest.approx(row.calibrated + 5.0 * row.sigma_calibrated)
        assert row.sigma_calibrated == pytest.approx(np.hypot(row.sigma, 0.15 * rnd_typical(scored)))
    rnd = run(lab, scored, kind="random", n=3, seed=1)
    assert rnd.kind == "random" and len(rnd.rows) == 3
    with lab.reader() as s:
        kinds = [sug.acquisition for sug in s.exec(select(Suggestion).order_by(Suggestion.id))]
    assert kinds == ["ucb", "ucb", "random", "random", "random"]


def test_logei_improves_on_the_best_measured_value(lab: Store, scored: Screen) -> None:
    rnd = run(lab, scored, kind="logei", n=1)
    assert rnd.params["best_f"] == pytest.approx(
        float(np.median(scored.Y[..., 0].mean(0)))
    )  # nothing measured
    with lab.transaction() as s:
        add_tested(s, "Li1.2Mn0.8O2", {1: 301.5}, campaign_id=queries.campaign_latest(s, "li-mn-o-f").id)
    assert run(lab, scored, kind="logei", n=1).params["best_f"] == pytest.approx(301.5)


def test_xi_reaches_logei(ensemble: Ensemble, scored: Screen, tmp_path: Path) -> None:
    values = {}
    for xi in (0.0, 40.0):
        path = tmp_path / f"xi{xi:g}.toml"
        path.write_text(CAMPAIGN.read_text().replace('kind = "ucb"', f'kind = "logei"\nxi = {xi}'))
        st = new_store(ensemble)
        rnd = run(st, scored, campaign=path)
        st.engine.dispose()
        assert rnd.params["xi"] == xi
        values[xi] = {r.formula: r.acquisition for r in rnd.rows}
    common = values[0.0].keys() & values[40.0].keys()
    assert common  # the best candidates stay the best; their improvement over best_f + xi shrinks
    assert all(values[40.0][f] < values[0.0][f] - 0.1 for f in common)


# ---------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    ("overrides", "match"), [({"n": 0}, "batch=0 must be ≥ 1"), ({"kind": "best"}, "kind='best'")]
)
def test_bad_overrides_record_nothing(lab: Store, scored: Screen, overrides: dict, match: str) -> None:
    with pytest.raises(CampaignError, match=match):
        run(lab, scored, **overrides)
    with lab.reader() as s:
        assert queries.campaign_latest(s, "li-mn-o-f") is None  # the whole transaction rolled back
        assert s.exec(select(Sample)).all() == []


def test_a_space_with_everything_taken_is_refused(lab: Store, ensemble: Ensemble, tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text(
        campaign_toml("one", {"Mn3+": 1.0, "Mn4+": 1.0}, li=(1.2, 1.2), f=(0.0, 0.0), metals=(1, 1), batch=2)
    )
    one = screen(load_spec(path), ensemble)
    assert formulas_of(one) == ["Li1.2Mn0.8O2"]
    rnd = run(lab, one, campaign=path)
    assert [r.formula for r in rnd.rows] == ["Li1.2Mn0.8O2"] and "only 1 of 2" in rnd.warning
    with pytest.raises(
        CampaignError, match="every one of the 1 candidates of campaign 'one' is already made"
    ):
        run(lab, one, campaign=path)
    with lab.reader() as s:
        assert len(s.exec(select(Sample)).all()) == 1
