"""The virtual lab in the loop: measure compositions with an oracle and write them as tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from drxlab.candidates.generator import check_feasible, iter_candidates
from drxlab.candidates.spec import AcquisitionSpec, CampaignSpec, Objective, Species
from drxlab.chem import compositions
from drxlab.chem.constants import STANDARD_RATE, STANDARD_WINDOW
from drxlab.exceptions import ChargeBalanceError, CompositionError, OracleError, ProfileError
from drxlab.lab.noise import Measurement, NoiseModel, measure
from drxlab.lab.oracle import Oracle, ensemble_oracle, synthetic_oracle
from drxlab.lab.synthesis import SynthesisRules
from drxlab.profiles.importers.base import ParsedProfile, ParsedTest
from drxlab.profiles.process import process_segment
from drxlab.store import queries
from drxlab.store.tables import ElectrochemTest, Sample
from drxlab.vocabulary import AcquisitionKind, FailureReason, ObjectiveKind, SampleStatus
from drxlab.workflow import models
from drxlab.workflow.ingest import material, write_test

# The seed spaces: which species a lab's early history draws from (2TM / 3TM classes).
SEED_SPECIES = {
    "Mn2+": 0.6,
    "Mn3+": 0.8,
    "Cr3+": 0.4,
    "V3+": 0.4,
    "Fe3+": 0.4,
    "Fe2+": 0.3,
    "Ni2+": 0.4,
    "Co2+": 0.3,
    "Mg2+": 0.3,
    "Ti4+": 0.6,
    "Nb5+": 0.4,
    "Zr4+": 0.3,
    "Mo6+": 0.2,
}
SEED_TESTS = ((20.0, (1, 2, 3, 5, 10, 15, 20, 30)), (100.0, (1, 2, 5, 10)), (400.0, (1, 5)), (1000.0, (1, 2)))


def resolve_oracle(session: Session, spec: str) -> Oracle:
    """``synthetic`` or ``drxnet:VERSION[/MEMBER]`` (a registered ensemble version)."""
    if spec == "synthetic":
        return synthetic_oracle()
    if spec.startswith("drxnet:"):
        ref, _, member = spec[len("drxnet:") :].partition("/")
        try:
            row, ens = models.resolve(session, ref or None)
        except Exception as exc:
            raise OracleError(f"oracle {spec!r}: {exc}") from None
        if member and (not member.isdigit() or int(member) >= len(ens)):
            raise OracleError(
                f"oracle {spec!r}: member {member!r} does not exist; version {row.id} has "
                f"members 0–{len(ens) - 1}"
            )
        return ensemble_oracle(
            ens, f"drxnet:{row.id}" + (f"/{member}" if member else ""), int(member) if member else None
        )
    raise OracleError(f"unknown oracle {spec!r}; expected 'synthetic' or 'drxnet:VERSION[/MEMBER]'")


def parsed_measurement(m: Measurement, formula: str, amts: dict, source: str) -> ParsedTest:
    """A virtual measurement as a parsed test, processed by the same pipeline as real data."""
    profiles = []
    for cycle, v, q in m.profiles:
        try:
            prof = process_segment(v, q)
        except ProfileError as exc:
            raise OracleError(f"{source}: cycle {cycle}: {exc}") from None
        profiles.append(ParsedProfile(cycle=cycle, profile=prof, raw_voltage=v, raw_capacity=q))
    try:
        states = compositions.oxidation_states(amts)
    except ChargeBalanceError:
        states = {}
    return ParsedTest(
        source=source,
        formula=formula,
        amounts=amts,
        oxidation_states=states,
        rate=m.rate,
        v_low=m.v_low,
        v_high=m.v_high,
        profiles=tuple(profiles),
        instrument="virtual lab",
    )


def measure_one(
    session: Session,
    oracle: Oracle,
    composition: str | dict,
    *,
    rate: float,
    window: tuple[float, float],
    cycles: Sequence[int],
    noise: NoiseModel,
    rng: np.random.Generator,
    campaign_id: int | None = None,
    sample: Sample | None = None,
    round_: int | None = None,
    synthesis: SynthesisRules | None = None,
) -> tuple[ElectrochemTest | None, Measurement]:
    """Measure one sample and store it as a virtual test (or a failed sample).

    With ``synthesis`` the sample is first synthesised by those rules; a synthesis that fails
    is stored as a failed sample with its reason and never reaches the cycler.
    """
    amts = compositions.amounts(composition)
    formula = compositions.format_formula(amts)
    failed = synthesis.check(amts, rng) if synthesis is not None else None
    if failed:
        code, text = failed
        m = Measurement(amts, amts, rate, window[0], window[1], (), True, f"{code.value}: {text}")
    else:
        m = measure(oracle.raw, amts, rate, window[0], window[1], list(cycles), noise, rng)
        code, text = (FailureReason.parse(m.reason)[0], m.reason) if m.failed else (None, "")
    if m.failed:
        if sample is None:
            mat = material(session, formula, amts, {})
            sample = queries.add_sample(
                session, mat.id, campaign_id=campaign_id, status=SampleStatus.FAILED, round=round_
            )
        queries.mark_failed(session, sample, code, f"virtual lab: {text}")
        return None, m
    test = write_test(
        session,
        parsed_measurement(m, formula, amts, f"{oracle.name}:{formula}"),
        sample=sample,
        campaign_id=campaign_id,
        source_name=oracle.name,
        virtual=True,
    )
    if sample is not None:
        queries.set_sample_status(session, sample, SampleStatus.TESTED)
    return test, m


class _SeedSpace:
    """The candidate blocks of one seed space, enumerated once per process and kept as grid units
    (int16, ~3 MB per 100 000 rows): a fine-tune of the released ensemble draws three seed
    samples (replay, held-out, drift set) from the same space, each enumerating ~300 000 rows."""

    BLOCK = 100_000

    def __init__(self, spec: CampaignSpec) -> None:
        self.n = round(2 / spec.step)
        self.elements: tuple[str, ...] = ()
        self.units: list[np.ndarray] = []
        self._gen = iter_candidates(spec, chunk=self.BLOCK, species=False)
        self._lock = threading.Lock()

    def blocks(self) -> Iterator[tuple[tuple[str, ...], np.ndarray]]:
        """(elements, amounts) of each block, in enumeration order (amounts as the walk makes them)."""
        i = 0
        while True:
            with self._lock:
                if i == len(self.units):
                    block = next(self._gen, None)
                    if block is None:
                        return
                    self.elements = block.elements
                    self.units.append(block.units.astype(np.int16))
                units = self.units[i]
            yield self.elements, (units.astype(np.int32) * 2) / self.n
            i += 1


_SEED_SPACES: dict[tuple, _SeedSpace] = {}


def _seed_space(klass: str, step: float, species: dict[str, float]) -> _SeedSpace:
    key = (klass, step, tuple(sorted(species.items())))
    if key not in _SEED_SPACES:
        lo, hi = {"2TM": (1, 2), "3TM": (3, 3), "HE": (4, 5)}[klass]
        spec = CampaignSpec(
            name=f"seed-{klass}",
            description="",
            li_min=1.05,
            li_max=1.3,
            f_min=0.0,
            f_max=0.2,
            step=step,
            min_metals=lo,
            max_metals=hi,
            species=tuple(Species.parse(label, amount) for label, amount in species.items()),
            objectives=(Objective("capacity", ObjectiveKind.CAPACITY, STANDARD_RATE, STANDARD_WINDOW),),
            acquisition=AcquisitionSpec(AcquisitionKind.UCB),
        )
        check_feasible(spec)  # an empty space raises here, not half-way through a cached walk
        if len(_SEED_SPACES) >= 8:  # other species lists (`lab seed --species`): keep a few
            del _SEED_SPACES[next(iter(_SEED_SPACES))]
        _SEED_SPACES[key] = _SeedSpace(spec)
    return _SEED_SPACES[key]


def seed_compositions(
    n: int,
    classes: Sequence[str],
    rng: np.random.Generator,
    step: float = 0.05,
    species: dict[str, float] | None = None,
) -> list[dict]:
    """A spread of charge-balanced 2TM / 3TM compositions (Li 1.05–1.3, F 0–0.2) to seed a store."""
    bad = [c for c in classes if c not in ("2TM", "3TM", "HE")]
    if bad or not classes:
        raise OracleError(f"classes {list(classes)} invalid; expected a subset of 2TM, 3TM, HE")
    pools = []
    for klass in classes:
        rows = []
        for elements, amounts in _seed_space(klass, step, species or SEED_SPECIES).blocks():
            take = rng.random(len(amounts)) < min(1.0, 20.0 * n / max(len(amounts), 1))
            rows.extend({el: a for el, a in zip(elements, r) if a > 0} for r in amounts[take].tolist())
            if len(rows) > 50 * n:
                break
        pools.append(rows)
    per = [n // len(classes) + (i < n % len(classes)) for i in range(len(classes))]
    out = []
    for pool, k in zip(pools, per):
        # keep compositions the synthetic lab can measure (a redox-active metal), spread at random
        order = rng.permutation(len(pool))
        picked = 0
        for i in order:
            if picked == k:
                break
            try:
                synthetic_oracle().raw(pool[i], STANDARD_RATE, *STANDARD_WINDOW, 1)
            except (OracleError, CompositionError):
                continue
            out.append(pool[i])
            picked += 1
    return out


@dataclass
class SeedSummary:
    materials: int = 0
    tests: int = 0
    profiles: int = 0
    failed: int = 0


def seed(
    session: Session,
    oracle: Oracle,
    *,
    n: int,
    classes: Sequence[str],
    seed_: int,
    noise: NoiseModel,
    campaign_id: int | None = None,
    tests: Sequence = SEED_TESTS,
    window: tuple[float, float] = STANDARD_WINDOW,
    on_sample: Callable[[], None] | None = None,
    species: dict[str, float] | None = None,
    synthesis: SynthesisRules | None = None,
) -> SeedSummary:
    """Measure ``n`` seed compositions at several rates and cycles into the store.

    With ``synthesis`` each composition is synthesised once first; one that fails is stored as
    a failed sample with its reason (a lab's history has failures too) and is not measured, and
    compositions are drawn until ``n`` have formed (at most 5 n drawn).
    """
    rng = np.random.default_rng(seed_)
    summary = SeedSummary()
    pool = seed_compositions(n if synthesis is None else 5 * n, classes, rng, species=species)
    formed = 0
    for amts in pool:
        if formed == n:
            break
        summary.materials += 1
        failed = synthesis.check(amts, rng) if synthesis is not None else None
        formed += not failed
        if failed:
            mat = material(session, compositions.format_formula(amts), amts, {})
            smp = queries.add_sample(session, mat.id, campaign_id=campaign_id, status=SampleStatus.FAILED)
            queries.mark_failed(session, smp, failed[0], f"virtual lab: {failed[1]}")
            summary.failed += 1
            if on_sample:
                on_sample()
            continue
        for rate, cycles in tests:
            test, _ = measure_one(
                session,
                oracle,
                amts,
                rate=rate,
                window=window,
                cycles=cycles,
                noise=noise,
                rng=rng,
                campaign_id=campaign_id,
            )
            if test is None:
                summary.failed += 1
            else:
                summary.tests += 1
                summary.profiles += len(cycles)
        if on_sample:
            on_sample()
    return summary
