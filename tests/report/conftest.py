"""Fixtures: a tiny ensemble, the he-drx space screened once, and virtual campaigns in temporary stores.

The campaigns are built the way the real loop builds them: ``suggest`` records proposed samples,
the synthetic oracle "measures" them (processed with ``process_segment``, written with
``write_test``) and statuses move to tested / failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from drxlab.candidates.generator import iter_candidates
from drxlab.candidates.spec import CampaignSpec, load_spec
from drxlab.lab import NoiseModel, measure, synthetic_raw_profile
from drxlab.model.drxnet import DRXNet
from drxlab.model.ensemble import Ensemble
from drxlab.profiles.importers.base import ParsedProfile, ParsedTest
from drxlab.profiles.process import process_segment
from drxlab.store import queries
from drxlab.store.db import Store, open_store
from drxlab.store.tables import Sample
from drxlab.workflow import campaigns, models
from drxlab.workflow.ingest import write_test
from drxlab.workflow.screening import Screen, objective_values
from drxlab.workflow.suggest import suggest
from tests.factories import SMALL_ARGS

HE_SPEC = Path(__file__).resolve().parents[2] / "campaigns" / "he-drx.toml"
TINY = {"elem_emb_len": 200, **SMALL_ARGS}
NOISE = NoiseModel(composition_scatter=0.0, failure_rate=0.0)
RATE, WINDOW = 20.0, (1.5, 4.8)  # the he-drx primary objective's conditions (mA/g, V)
SCREENED = 2000  # candidates of the he-drx space scored for the virtual campaigns


def tiny_ensemble(seed: int, level: float = 200.0) -> Ensemble:
    """Five untrained small DRXNet members whose output sits near ``level`` mAh/g (σ ≈ 14 mAh/g)."""
    torch.manual_seed(seed)
    members = []
    for k in range(5):
        m = DRXNet(**TINY)
        with torch.no_grad():
            m.fc.fc.bias.fill_(level + 10.0 * (k - 2))
        members.append(m)
    return Ensemble(members)


@dataclass
class Virtual:
    """A temporary store with one campaign, and the ensembles / screens used to build it."""

    path: Path
    store: Store
    name: str = "he-drx"


def measure_sample(
    session, smp: Sample, *, rate: float = RATE, cycles: tuple[int, ...] = (1, 2), seed: int = 0
) -> None:
    """Measure a sample with the synthetic oracle, write its test and mark it tested."""
    mat = queries.material(session, smp.material_id)
    amts = mat.amounts
    m = measure(synthetic_raw_profile, amts, rate, *WINDOW, cycles, NOISE, np.random.default_rng(seed))
    profiles = tuple(ParsedProfile(c, process_segment(v, q), v, q) for c, v, q in m.profiles)
    test = ParsedTest(
        source=f"virtual:{smp.id}",
        formula=mat.formula,
        amounts=amts,
        oxidation_states={},
        rate=rate,
        v_low=WINDOW[0],
        v_high=WINDOW[1],
        profiles=profiles,
    )
    write_test(session, test, sample=smp, virtual=True)
    queries.set_sample_status(session, smp, "tested")


def fail_sample(session, smp: Sample) -> None:
    queries.set_sample_status(session, smp, "failed", "virtual lab: internal short circuit")


def round_samples(session, number: int, name: str = "he-drx") -> list[Sample]:
    ids = queries.campaign_ids(session, name)
    return [s for s, _ in queries.samples_of_campaign(session, ids) if s.round == number]


@pytest.fixture(scope="session")
def ensembles() -> tuple[Ensemble, Ensemble]:
    return tiny_ensemble(1, level=170.0), tiny_ensemble(2, level=250.0)


def subset_screen(
    ensemble: Ensemble, n: int = SCREENED, seed: int = 0, spec: CampaignSpec | None = None
) -> Screen:
    """A random ``n`` of the he-drx space's 54,297 candidates scored by ``ensemble``.

    ``suggest(scored=...)`` then picks from these; screening the whole space takes from a few
    seconds to minutes on two busy cores, which the report does not need.
    """
    spec = spec or load_spec(HE_SPEC)
    blocks = list(iter_candidates(spec))
    X = np.concatenate([b.amounts for b in blocks])
    sp = np.concatenate([b.species_units * b.step for b in blocks])
    idx = np.sort(np.random.default_rng(seed).choice(len(X), size=n, replace=False))
    comps = [{el: a for el, a in zip(blocks[0].elements, row) if a > 0} for row in X[idx].tolist()]
    Y = np.stack([objective_values(ensemble, comps, o) for o in spec.objectives], axis=-1)
    return Screen(blocks[0].elements, X[idx], Y, blocks[0].species, sp[idx])


@pytest.fixture(scope="session")
def screens(ensembles) -> tuple[Screen, Screen]:
    """A subset of the he-drx space scored by each tiny ensemble, once per test session."""
    return subset_screen(ensembles[0]), subset_screen(ensembles[1])


def new_campaign(path: Path, ensemble: Ensemble) -> Virtual:
    store = open_store(path)
    with store.transaction() as s:
        models.register(s, ensemble, source="trained", metrics={"val_mae_mAh_g": 21.5})
        campaigns.add(s, HE_SPEC)
    return Virtual(path, store)


@pytest.fixture(scope="module")
def three_rounds(tmp_path_factory, ensembles, screens) -> Virtual:
    """3 rounds of 4: round 1 all tested; round 2 two tested, one tested only at 40 mA/g (cycle-1
    fallback), one failed; round 3 (new fine-tuned model version) two tested, two still proposed."""
    v = new_campaign(tmp_path_factory.mktemp("three") / "lab.sqlite", ensembles[0])
    with v.store.transaction() as s:
        suggest(s, str(HE_SPEC), n=4, seed=1, scored=screens[0])
        for k, smp in enumerate(round_samples(s, 1)):
            measure_sample(s, smp, seed=k)
        suggest(s, str(HE_SPEC), n=4, seed=2, scored=screens[0])
        a, b, c, d = round_samples(s, 2)
        measure_sample(s, a, seed=10)
        measure_sample(s, b, seed=11)
        measure_sample(s, c, rate=40.0, seed=12)
        fail_sample(s, d)
        v1 = queries.current_model(s)
        models.register(
            s, ensembles[1], source="finetuned", parent_id=v1.id, metrics={"val_mae_mAh_g": 18.25}
        )
        suggest(s, str(HE_SPEC), n=4, seed=3, scored=screens[1])
        for k, smp in enumerate(round_samples(s, 3)[:2]):
            measure_sample(s, smp, seed=20 + k)
    return v


@pytest.fixture
def empty_campaign(tmp_path: Path, ensembles) -> Virtual:
    return new_campaign(tmp_path / "lab.sqlite", ensembles[0])


@pytest.fixture
def proposed_only(tmp_path: Path, ensembles, screens) -> Virtual:
    v = new_campaign(tmp_path / "lab.sqlite", ensembles[0])
    with v.store.transaction() as s:
        suggest(s, str(HE_SPEC), n=4, seed=1, scored=screens[0])
    return v


@pytest.fixture
def with_failure(tmp_path: Path, ensembles, screens) -> Virtual:
    """One round: one sample failed, the others still proposed (no measurement anywhere)."""
    v = new_campaign(tmp_path / "lab.sqlite", ensembles[0])
    with v.store.transaction() as s:
        suggest(s, str(HE_SPEC), n=4, seed=1, scored=screens[0])
        fail_sample(s, round_samples(s, 1)[0])
    return v


def ten_rounds(path: Path, ensembles, screen_: Screen) -> Virtual:
    """10 rounds of 8 (80 samples), a new fine-tuned version every 2 rounds, ~1 in 16 failed."""
    v = new_campaign(path, ensembles[0])
    with v.store.transaction() as s:
        for rnd in range(1, 11):
            if rnd > 1 and rnd % 2 == 1:
                parent = queries.current_model(s)
                models.register(
                    s,
                    tiny_ensemble(100 + rnd, level=170.0 + 5 * rnd),
                    source="finetuned",
                    parent_id=parent.id,
                    metrics={"val_mae_mAh_g": 30.0 - rnd},
                )
            suggest(s, str(HE_SPEC), n=8, seed=rnd, scored=screen_)
            for k, smp in enumerate(round_samples(s, rnd)):
                if (rnd * 8 + k) % 16 == 5:
                    fail_sample(s, smp)
                else:
                    measure_sample(s, smp, seed=rnd * 8 + k)
    return v
