"""The report's numbers equal values recomputed here from the store with the ordinary queries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drxlab.candidates.spec import parse_spec
from drxlab.exceptions import CampaignError
from drxlab.report.data import collect, map_axes, non_dominated
from drxlab.report.render import inventory_rows
from drxlab.store import queries
from drxlab.workflow import campaigns, models
from drxlab.workflow.suggest import suggest
from tests.report.conftest import HE_SPEC, RATE, measure_sample, new_campaign, round_samples, subset_screen


def expected(session) -> dict:
    """Per sample: round, status, version, predicted, σ, measured (20 mA/g cycle 1, else cycle 1)."""
    ids = queries.campaign_ids(session, "he-drx")
    out = {}
    for sug, smp, _ in queries.suggestions(session, ids):
        measured = fallback = None
        for test in queries.tests_of_sample(session, smp.id):
            caps = {p.cycle: p.capacity for p in queries.profiles_of(session, test.id)}
            if test.rate == RATE and 1 in caps and measured is None:
                measured = caps[1]
            if 1 in caps and fallback is None:
                fallback = caps[1]
        out[smp.id] = {
            "round": smp.round,
            "status": smp.status,
            "version": sug.model_version_id,
            "predicted": sug.predicted,
            "sigma": sug.predicted_std,
            "calibrated": json.loads(sug.params_json or "{}").get("calibrated"),
            "measured": measured if measured is not None else fallback,
        }
    return out


@pytest.fixture(scope="module")
def report(three_rounds):
    with three_rounds.store.reader() as s:
        return collect(s, "he-drx"), expected(s)


def test_best_so_far_and_predicted_best_per_round(report) -> None:
    data, exp = report
    assert [r.round for r in data.rounds] == [1, 2, 3]
    best = None
    for r in data.rounds:
        mine = [e for e in exp.values() if e["round"] == r.round]
        vals = [e["measured"] for e in mine if e["measured"] is not None]
        best = max([best, *vals]) if best is not None else max(vals)
        assert r.best_so_far == pytest.approx(best)
        assert r.predicted_best == pytest.approx(max(e["predicted"] for e in mine))
        assert (r.suggested, r.tested, r.failed) == (
            4,
            sum(e["status"] == "tested" for e in mine),
            sum(e["status"] == "failed" for e in mine),
        )
    made = sorted((e["round"], sid) for sid, e in exp.items() if e["status"] in ("tested", "failed"))
    assert [n for n, _ in data.syntheses] == list(range(1, len(made) + 1))
    assert data.syntheses[-1][1] == pytest.approx(best)


def test_mae_per_round_over_suggested_measured_samples(report) -> None:
    data, exp = report
    for r in data.rounds:
        errs = [
            abs(e["measured"] - e["predicted"])
            for e in exp.values()
            if e["round"] == r.round and e["measured"] is not None
        ]
        assert r.compared == len(errs)
        assert r.mae == pytest.approx(np.mean(errs))
    assert [r.compared for r in data.rounds] == [4, 3, 2]  # the failed and the 2 proposed are left out
    all_errs = [abs(e["measured"] - e["predicted"]) for e in exp.values() if e["measured"] is not None]
    assert data.mae == pytest.approx(np.mean(all_errs))


def test_coverage_per_model_version(report) -> None:
    data, exp = report
    versions = sorted({e["version"] for e in exp.values()})
    assert [c.model_version for c in data.coverage] == [*versions, None]
    for c in data.coverage:
        rows = [
            e
            for e in exp.values()
            if e["measured"] is not None and (c.model_version is None or e["version"] == c.model_version)
        ]
        z = np.array([(e["measured"] - e["predicted"]) / e["sigma"] for e in rows])
        assert c.n == len(rows)
        assert c.within_1sigma == pytest.approx(np.mean(np.abs(z) <= 1))
        assert c.within_2sigma == pytest.approx(np.mean(np.abs(z) <= 2))
        assert sorted(c.z) == pytest.approx(sorted(z))
        # against the calibrated (mean, σ) each suggestion was ranked with
        cal = [e for e in rows if e["calibrated"]]
        zc = np.array([(e["measured"] - e["calibrated"][0]) / e["calibrated"][1] for e in cal])
        assert c.n_calibrated == len(cal) > 0
        assert c.within_1sigma_calibrated == pytest.approx(np.mean(np.abs(zc) <= 1))
        assert c.within_2sigma_calibrated == pytest.approx(np.mean(np.abs(zc) <= 2))


def test_fallback_and_failed_samples_are_explained(report) -> None:
    data, _ = report
    fallback = [r for r in data.samples if r.basis.startswith("cycle-1")]
    assert len(fallback) == 1 and "40 mA/g" in fallback[0].basis
    assert any("cycle-1" in n and str(fallback[0].sample_id) in n for n in data.notes["parity"])
    failed = [r for r in data.samples if r.status == "failed"]
    assert len(failed) == 1 and not failed[0].compared
    assert any("Failed" in n and str(failed[0].sample_id) in n for n in data.notes["parity"])


def test_curve_panels_use_the_suggesting_model_version(report, three_rounds) -> None:
    data, exp = report
    assert len(data.panels) == 9
    with three_rounds.store.reader() as s:
        for version in {p.model_version for p in data.panels}:
            ens = models.load(queries.model_version(s, version))
            for p in (p for p in data.panels if p.model_version == version):
                assert exp[p.sample_id]["version"] == version
                pred = ens.predict_curves([p.formula], p.rate, p.v_low, p.v_high, 1)
                np.testing.assert_allclose(p.pred_q, pred.q_mean[0], rtol=1e-5)
                assert p.measured_q[0] == pytest.approx(
                    next(r.measured for r in data.samples if r.sample_id == p.sample_id)
                )


def test_composition_map_and_tables(report) -> None:
    data, _ = report
    sp = data.space
    assert sp.n_space == 54297 and sp.axes == ("Li", "F") and sp.candidates.shape[1] == 2
    assert int(sp.counts.sum()) == 54297 - 12  # every untested candidate, counted on its (Li, F) point
    assert len(np.unique(sp.candidates, axis=0)) == len(sp.candidates)
    assert {k: len(v) for k, v in sp.groups.items()} == {"tested": 9, "failed": 1, "suggested": 2}
    assert sp.failure_reasons == ("other",)  # logged before reasons existed: shown as "other"
    tested = [r for r in data.samples if r.measured is not None]
    assert sp.groups["tested"].tolist() == [
        [r.amounts.get("Li", 0.0), r.amounts.get("F", 0.0)] for r in tested
    ]
    assert data.pareto is None and any("single objective" in n for n in data.notes["space"])
    assert [(v["source"], v["rounds"], v["current"]) for v in data.lineage] == [
        ("trained", [1, 2], False),
        ("finetuned", [3], True),
    ]
    assert data.lineage[1]["parent"] == data.lineage[0]["id"]
    assert data.inventory["campaign"]["HE"] == {"materials": 12, "samples": 12, "tests": 9, "profiles": 18}
    rows = inventory_rows(data.inventory)
    assert [r[0] for r in rows] == ["2TM", "3TM", "HE", "all"] and rows[-1][1:5] == (12, 12, 9, 18)


def test_unknown_campaign_is_a_clear_error(three_rounds) -> None:
    with three_rounds.store.reader() as s, pytest.raises(CampaignError, match="'nope' not found.*he-drx"):
        collect(s, "nope")


def test_pareto_front_of_two_objectives(tmp_path: Path, ensembles) -> None:
    text = (
        HE_SPEC.read_text()
        .replace('name = "he-drx"', 'name = "he-pareto"')
        .replace('kind = "ucb"', 'kind = "pareto"')
    )
    text = text.replace("# [objectives.retention]", "[objectives.retention]")
    for key in (
        'kind = "retention"',
        "rate = 1000",
        "base_rate = 20",
        "window = [1.5, 4.8]  ",
        "cycle = 1",
        "weight = 1.0",
    ):
        text = text.replace(f"# {key}", key)
    spec = parse_spec(text)
    assert len(spec.objectives) == 2
    path = tmp_path / "he-pareto.toml"
    path.write_text(text)
    v = new_campaign(tmp_path / "lab.sqlite", ensembles[0])
    with v.store.transaction() as s:
        campaigns.add(s, path)
        suggest(s, str(path), n=6, seed=0, scored=subset_screen(ensembles[0], n=300, spec=spec))
        measure_sample(s, round_samples(s, 1, "he-pareto")[0])
    with v.store.reader() as s:
        data = collect(s, "he-pareto")
    pa = data.pareto
    assert (
        pa.names == ("capacity", "retention") and pa.units == ("mAh/g", "ratio") and len(pa.sample_ids) == 6
    )
    pts = pa.points
    dominated = [
        any((pts[j] >= pts[i]).all() and (pts[j] > pts[i]).any() for j in range(len(pts)))
        for i in range(len(pts))
    ]
    assert list(pa.front) == [not d for d in dominated] and pa.front.any()


def test_non_dominated_and_map_axes() -> None:
    pts = np.array([[1.0, 5.0], [2.0, 4.0], [1.5, 3.0], [2.0, 4.0], [0.5, 0.5]])
    assert non_dominated(pts).tolist() == [True, True, False, True, False]
    els = ("Li", "Mn", "Ti", "O", "F")
    amounts = np.array([[1.2, 0.4, 0.4, 2.0, 0.0], [1.1, 0.6, 0.3, 1.9, 0.1]])
    assert map_axes(els, amounts) == ("Li", "F")
    amounts[:, 4], amounts[:, 3] = 0.0, 2.0  # no F in the space: Li against the metal that varies most
    assert map_axes(els, amounts) == ("Li", "Mn")


def test_composition_map_on_chosen_elements(three_rounds) -> None:
    with three_rounds.store.reader() as s:
        sp = collect(s, "he-drx", map_axes=("Mn", "Ti")).space
        assert sp.axes == ("Mn", "Ti")
        with pytest.raises(CampaignError, match="'Co' is not an element of campaign 'he-drx'"):
            collect(s, "he-drx", map_axes=("Li", "Co"))
