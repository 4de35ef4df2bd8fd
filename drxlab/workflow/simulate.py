"""Closed-loop campaign simulation: which acquisition strategy finds good cathodes fastest?

For each strategy and seed, from the same starting data and the same initial ensemble:
suggest → the oracle "synthesises" and measures the batch (with noise) → log → fine-tune,
for R rounds. The true objective of the whole candidate space is computed once per oracle
(noise-free) and scores every campaign: best true value found vs syntheses, syntheses until a
candidate of the true top 1 % is made, simple regret, and model MAE on the untested space.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from drxlab.acquisition.select import KINDS
from drxlab.candidates.spec import CampaignSpec, load_spec
from drxlab.chem import compositions
from drxlab.exceptions import CampaignError, DrxlabError, NothingToFinetuneError
from drxlab.lab.noise import NoiseModel
from drxlab.lab.oracle import Oracle
from drxlab.lab.synthesis import SynthesisRules
from drxlab.progress import ProgressBar, silent
from drxlab.store import queries
from drxlab.store.db import Store, open_store
from drxlab.store.merge import merge_into
from drxlab.vocabulary import AcquisitionKind, FailureReason, SampleStatus
from drxlab.workflow import calibrate, lab, models, training
from drxlab.workflow.screening import screen
from drxlab.workflow.suggest import suggest

T = TypeVar("T")

START_TESTS = ((20.0, (1, 2, 5, 10)), (200.0, (1,)))
TOP_FRACTION = 0.01
COVERAGE_FROM_ROUND = 3  # prospective coverage counts the rounds after the 3rd (calibration has data)
MAE_SAMPLE = 2000  # untested candidates scored for the model-MAE curve

# a simulated campaign scores one objective, so every single-objective kind can be simulated
SIMULATION_KINDS: tuple[str, ...] = tuple(k.value for k in AcquisitionKind if not k.multi_objective)


@dataclass
class Run:
    """One simulated campaign (a strategy and a seed)."""

    strategy: str
    seed: int
    campaign: str
    true_best: list[float] = field(default_factory=list)  # best true objective after each synthesis
    made: list[str] = field(default_factory=list)
    syntheses_to_top: int | None = None
    regret: float = float("nan")
    model_mae: list[float] = field(default_factory=list)  # per round, on untested candidates
    # per suggestion, before its measurement: round, measured value, then [mean, σ] per posterior
    predictions: list[dict] = field(default_factory=list)
    failed_syntheses: int = 0  # syntheses that did not form (FailureReason.synthesis); cells not counted
    failures: dict[str, int] = field(default_factory=dict)  # failure reason -> count (cells included)

    def coverage(self, k: float, posterior: str) -> float | None:
        """Share of measurements within ``k`` σ of ``posterior``'s prediction, after round 3."""
        rows = [p for p in self.predictions if p["round"] > COVERAGE_FROM_ROUND and posterior in p]
        if not rows:
            return None
        return _within(rows, k, posterior)

    def coverage_in_round(self, k: float, posterior: str, rnd: int) -> float | None:
        """Share of round ``rnd``'s measurements within ``k`` σ of ``posterior``'s prediction."""
        rows = [p for p in self.predictions if p["round"] == rnd and posterior in p]
        return _within(rows, k, posterior) if rows else None


def _within(rows: list[dict], k: float, posterior: str) -> float:
    return float(np.mean([abs(p["measured"] - p[posterior][0]) <= k * p[posterior][1] for p in rows]))


POSTERIORS = ("raw", "calibrated", "scale", "gp")  # whose coverage a simulation reports


@dataclass(frozen=True)
class StrategySummary:
    """One strategy over its seeds: medians and spreads (capacities in mAh/g)."""

    seeds: int
    syntheses_to_top_median: float  # inf: the median campaign never reached the top 1 %
    reached_top: int  # seeds that reached it
    best_true_median: float
    best_true_min: float
    best_true_max: float
    regret_median: float
    model_mae_untested: float  # final round, on untested candidates
    failed_syntheses: tuple[int, ...]  # per seed
    random_over_median: float | None  # exact random median / this median; None if not reached
    coverage: dict[int, dict[str, float | None]]  # k -> posterior -> share within k sigma, after round 3
    # per round (1, 2, ...): k -> posterior -> share within k sigma of that round's measurements
    coverage_by_round: tuple[dict[int, dict[str, float | None]], ...] = ()
    measured_by_round: tuple[int, ...] = ()  # measurements behind each round's figures, all seeds

    @property
    def failed_syntheses_median(self) -> float:
        return float(np.median(self.failed_syntheses))

    def as_dict(self) -> dict:
        """The JSON keys of ``simulate --json`` (units in the names)."""
        return {
            "seeds": self.seeds,
            "syntheses_to_top1pct_median": self.syntheses_to_top_median,
            "reached_top1pct": self.reached_top,
            "best_true_median_mAh_g": self.best_true_median,
            "best_true_min_mAh_g": self.best_true_min,
            "best_true_max_mAh_g": self.best_true_max,
            "regret_median_mAh_g": self.regret_median,
            "model_mae_untested_final_mAh_g": self.model_mae_untested,
            "failed_syntheses_median": self.failed_syntheses_median,
            "failed_syntheses": list(self.failed_syntheses),
            # None where the strategy's median campaign never reached the top 1 %
            "random_expected_over_median": self.random_over_median,
            **{f"coverage_{k}sigma": dict(v) for k, v in self.coverage.items()},
            # prospective coverage round by round (median over seeds), to see when calibration sets in
            "coverage_per_round": [
                {
                    "round": i + 1,
                    "measurements": n,
                    **{f"coverage_{k}sigma": dict(v) for k, v in cov.items()},
                }
                for i, (cov, n) in enumerate(zip(self.coverage_by_round, self.measured_by_round))
            ],
        }


@dataclass
class SimulationResult:
    campaign: str
    oracle: str
    candidates: int
    true_max: float
    top_threshold: float
    rounds: int
    batch: int
    runs: list[Run]
    top_count: int = 0  # candidates at or above the top-1 % threshold
    feasibility: bool = True  # acquisition weighted by P(feasible)
    synthesis_failures: bool = False  # the virtual lab's synthesis rules were on (top 1 % of the feasible)

    def random_median(self) -> float:
        """Median syntheses uniform random picks need to make a top-1 % candidate (exact)."""
        return random_median_draws(self.candidates, self.top_count)

    def summary(self) -> dict[str, StrategySummary]:
        """Median and spread over seeds per strategy."""
        out = {}
        for strat in dict.fromkeys(r.strategy for r in self.runs):
            rs = [r for r in self.runs if r.strategy == strat]
            to_top = [r.syntheses_to_top if r.syntheses_to_top is not None else np.inf for r in rs]
            best = np.array([r.true_best[-1] for r in rs])
            mae = np.array([r.model_mae[-1] for r in rs if r.model_mae])
            med = float(np.median(to_top))
            out[strat] = StrategySummary(
                seeds=len(rs),
                syntheses_to_top_median=med,
                reached_top=int(sum(np.isfinite(to_top))),
                best_true_median=float(np.median(best)),
                best_true_min=float(best.min()),
                best_true_max=float(best.max()),
                regret_median=float(np.median([r.regret for r in rs])),
                model_mae_untested=float(np.median(mae)) if mae.size else float("nan"),
                failed_syntheses=tuple(r.failed_syntheses for r in rs),
                random_over_median=self.random_median() / med if np.isfinite(med) else None,
                coverage={
                    k: {post: _median([r.coverage(k, post) for r in rs]) for post in POSTERIORS}
                    for k in (1, 2)
                },
                coverage_by_round=tuple(
                    {
                        k: {
                            post: _median([r.coverage_in_round(k, post, rnd) for r in rs])
                            for post in POSTERIORS
                        }
                        for k in (1, 2)
                    }
                    for rnd in range(1, self.rounds + 1)
                ),
                measured_by_round=tuple(
                    sum(p["round"] == rnd for r in rs for p in r.predictions)
                    for rnd in range(1, self.rounds + 1)
                ),
            )
        return out

    def as_dict(self) -> dict:
        d = asdict(self)
        d["summary"] = {k: v.as_dict() for k, v in self.summary().items()}
        d["random_expected_syntheses_to_top1pct_median"] = self.random_median()
        return d


def _median(values: list[float | None]) -> float | None:
    """Median over seeds of the per-seed values that exist (``None`` when none does)."""
    got = [v for v in values if v is not None]
    return float(np.median(got)) if got else None


def random_median_draws(n: int, k: int) -> float:
    """Median number of draws without replacement from ``n`` candidates until one of the ``k``
    top ones is drawn: the smallest d with P(none of d draws is top) ≤ 1/2 (hypergeometric).

    With only 32 syntheses a random campaign rarely reaches the top 1 % of 10⁴–10⁵ candidates,
    so its simulated median is "not reached"; this is the figure to compare strategies with.
    """
    if k <= 0 or n <= 0:
        return float("inf")
    p_none = 1.0
    for d in range(1, n - k + 2):
        p_none *= (n - k - d + 1) / (n - d + 1)
        if p_none <= 0.5:
            return float(d)
    return float(n - k + 1)


def check_plan(
    spec: CampaignSpec, strategies: Sequence[str], rounds: int, batch: int, seeds: int, n: int
) -> None:
    """Reject impossible simulation plans before any work is done."""
    allowed = SIMULATION_KINDS
    bad = [s for s in strategies if s not in allowed]
    if bad or not strategies:
        raise CampaignError(
            f"strategy {', '.join(bad) or '(none)'} unknown; expected some of {', '.join(allowed)}"
        )
    for name, value in (("rounds", rounds), ("batch", batch), ("seeds", seeds)):
        if value < 1:
            raise CampaignError(f"{name}={value} must be ≥ 1")
    if rounds * batch > n:
        raise CampaignError(
            f"rounds × batch = {rounds * batch} syntheses exceed the {n} candidates of campaign "
            f"{spec.name!r}; use fewer rounds or a smaller batch"
        )


@dataclass(frozen=True)
class SpaceTruth:
    """The oracle's noise-free objective over a campaign's whole space (computed once per oracle):
    what scores every campaign. ``forms``: the candidates the virtual lab's rules let form."""

    formulas: list[str]
    truth: np.ndarray  # mAh/g, 0 where the oracle cannot measure
    forms: np.ndarray
    top: float  # top-1 % threshold of the candidates that form, mAh/g

    @property
    def true_of(self) -> dict[str, float]:
        return dict(zip(self.formulas, self.truth.tolist()))


def space_truth(
    spec: CampaignSpec,
    oracle: Oracle,
    *,
    synthesis: SynthesisRules | None = None,
    check: Callable[[int], None] = lambda n: None,
    bars: Callable[..., ProgressBar] = silent,
) -> SpaceTruth:
    """Enumerate ``spec``'s space (``check`` sees its size before the oracle runs) and score it."""
    from drxlab.candidates.generator import iter_candidates

    blocks = list(iter_candidates(spec))
    elements = blocks[0].elements
    X = np.concatenate([b.amounts for b in blocks])
    comps = [{el: a for el, a in zip(elements, r) if a > 0} for r in X.tolist()]
    formulas = [compositions.format_formula(c) for c in comps]
    check(len(formulas))
    obj = spec.objectives[0]
    with bars("virtual truth of every candidate", len(comps), "candidate") as bar:
        truth = oracle.capacities(comps, obj.rate, obj.window[0], obj.window[1], obj.cycle)
        bar({"advance": len(comps)})
    if np.isnan(truth).all():
        raise DrxlabError(f"oracle {oracle.name} cannot measure any candidate of {spec.name!r}")
    truth = np.nan_to_num(truth, nan=0.0)
    forms = np.array([synthesis.feasible(c) for c in comps]) if synthesis else np.ones(len(comps), bool)
    if not forms.any():
        raise CampaignError(
            f"none of the {len(comps)} candidates of {spec.name!r} forms by the virtual lab's synthesis "
            "rules (drxlab.lab.synthesis)",
            option="no_synthesis_failures",
            option_use="to simulate without synthesis failures",
        )
    return SpaceTruth(formulas, truth, forms, float(np.quantile(truth[forms], 1 - TOP_FRACTION)))


def check_objective(spec: CampaignSpec) -> None:
    obj = spec.objectives[0]
    if obj.kind not in ("capacity", "cycle_capacity"):
        raise CampaignError(
            f"simulation scores the first objective; {obj.kind!r} objectives are not supported, "
            "put a capacity objective first"
        )


def run_simulation(
    store: Store,
    spec_path: Path,
    oracle: Oracle,
    *,
    strategies: Sequence[str],
    rounds: int,
    batch: int,
    seeds: Sequence[int],
    start_from: str = "2TM",
    n_start: int = 20,
    start_epochs: int = 15,
    finetune_epochs: int = 4,
    kappa: float | None = None,
    calibration: str | None = None,
    feasibility: bool = True,
    synthesis: SynthesisRules | None = None,
    say: Callable[[str], None] = lambda s: None,
    bars: Callable[..., ProgressBar] = silent,
) -> SimulationResult:
    """Simulate every strategy × seed campaign into ``store`` (one campaign each), each campaign
    alone in a copy of its seed's starting store, as on Ray; merged into ``store`` at the end.

    The oracle is resolved by the caller (a ``drxnet`` oracle's version lives in the user's
    store; the simulation store only holds the simulated campaigns). With ``synthesis`` rules the
    virtual lab's syntheses can fail: a failed one finds nothing, and the top 1 % is that of the
    candidates the rules let form. ``feasibility`` weights the acquisition by P(feasible) learned
    from the campaign's own syntheses and its starting data.
    """
    spec = load_spec(spec_path)
    check_objective(spec)
    # the space and its truth, once per oracle
    space = space_truth(
        spec,
        oracle,
        synthesis=synthesis,
        check=lambda n: check_plan(spec, strategies, rounds, batch, len(seeds), n),
        bars=bars,
    )
    say_truth(space, synthesis, say)
    runs = []
    # Every campaign runs alone, in a copy of its seed's starting store, as a Ray task does, and
    # the stores are merged into ``store`` at the end (one transaction). In one shared store a
    # material row (one per formula) would carry what the first campaign to make it wrote, and
    # P(feasible) and the nearest known material would see the other campaigns' syntheses.
    with tempfile.TemporaryDirectory(prefix="drxlab-sim-") as tmp:
        files = []
        for seed in seeds:
            start_db = Path(tmp) / f"start-s{seed}.sqlite"
            start_version = in_store(
                start_db,
                lambda st, seed=seed: start_seed(
                    st, oracle, start_from, seed, n_start, start_epochs, say, bars, synthesis
                ),
            )
            for strat in strategies:
                files.append(Path(tmp) / f"{spec.name}-{strat}-s{seed}.sqlite")
                shutil.copyfile(start_db, files[-1])
                run = in_store(
                    files[-1],
                    lambda st, strat=strat, seed=seed, version=start_version: run_campaign(
                        st,
                        spec,
                        oracle,
                        space,
                        strat,
                        seed,
                        version,
                        rounds=rounds,
                        batch=batch,
                        finetune_epochs=finetune_epochs,
                        kappa=kappa,
                        calibration=calibration,
                        feasibility=feasibility,
                        synthesis=synthesis,
                        bars=bars,
                    ),
                    create=False,
                )
                say(run_line(run))
                runs.append(run)
        merge_into(files, store)
    return simulation_result(spec, oracle, space, rounds, batch, runs, feasibility, synthesis)


def in_store(path: Path, work: Callable[[Store], T], *, create: bool = True) -> T:
    """``work`` on the SQLite store at ``path``, closed afterwards (its file then holds everything)."""
    store = open_store(path, create=create)
    try:
        return work(store)
    finally:
        store.engine.dispose()


def say_truth(space: SpaceTruth, synthesis: SynthesisRules | None, say: Callable[[str], None]) -> None:
    n = len(space.formulas)
    if synthesis:
        say(f"{int((~space.forms).sum())} of {n} candidates do not form by the virtual lab's rules")
    say(f"{n} candidates; true best {space.truth.max():.1f} mAh/g, top-1 % threshold {space.top:.1f} mAh/g")


def run_line(run: Run) -> str:
    return (
        f"  {run.strategy:9s} seed {run.seed}: best true {run.true_best[-1]:.1f} mAh/g after "
        f"{len(run.made)} syntheses; top 1 % "
        f"{'after ' + str(run.syntheses_to_top) if run.syntheses_to_top else 'not reached'}"
    )


def simulation_result(
    spec: CampaignSpec,
    oracle: Oracle,
    space: SpaceTruth,
    rounds: int,
    batch: int,
    runs: list[Run],
    feasibility: bool,
    synthesis: SynthesisRules | None,
) -> SimulationResult:
    return SimulationResult(
        spec.name,
        oracle.name,
        len(space.formulas),
        float(space.truth.max()),
        space.top,
        rounds,
        batch,
        runs,
        top_count=int((space.truth[space.forms] >= space.top).sum()),
        feasibility=feasibility,
        synthesis_failures=synthesis is not None,
    )


def run_campaign(
    store: Store,
    spec: CampaignSpec,
    oracle: Oracle,
    space: SpaceTruth,
    strat: str,
    seed: int,
    start_version: int,
    *,
    rounds: int,
    batch: int,
    finetune_epochs: int = 4,
    kappa: float | None = None,
    calibration: str | None = None,
    feasibility: bool = True,
    synthesis: SynthesisRules | None = None,
    bars: Callable[..., ProgressBar] = silent,
) -> Run:
    """One strategy's campaign for ``seed`` in ``store``, from the initial ensemble
    ``start_version`` and the seed's starting data (campaign ``start-s{seed}``)."""
    obj = spec.objectives[0]
    cycles = sorted({1, obj.cycle})
    formulas, truth, top, true_of = space.formulas, space.truth, space.top, space.true_of
    name = f"{spec.name}-{strat}-s{seed}"
    run = Run(strat, seed, name)
    # each campaign is the same spec under its own name: registered from the object, no file
    text = spec.text.replace(f'name = "{spec.name}"', f'name = "{name}"', 1)
    mine = dataclasses.replace(spec, name=name, text=text, sha256=hashlib.sha256(text.encode()).hexdigest())
    with store.transaction() as s:
        queries.set_current_model(s, start_version, name)
    rng = np.random.default_rng([seed, KINDS.index(strat)])
    best = -np.inf
    with bars(f"{strat} seed {seed}", rounds, "round") as bar:
        for rnd in range(rounds):
            with store.transaction() as s:
                _, ens = models.current(s, name)
                sc = screen(mine, ens)
                pred = sc.Y[..., 0].mean(0)
                made = set(run.made)
                untested = [i for i, f in enumerate(formulas) if f not in made]
                pick = rng.choice(untested, size=min(MAE_SAMPLE, len(untested)), replace=False)
                run.model_mae.append(float(np.abs(pred[pick] - truth[pick]).mean()))
                own = queries.campaign_ids(s, name) + queries.campaign_ids(s, f"start-s{seed}")
                r = suggest(
                    s,
                    mine,
                    n=batch,
                    kind=strat,
                    kappa=kappa,
                    seed=seed * 1000 + rnd,
                    scored=sc,
                    calibration=calibration,
                    feasibility=feasibility,
                    data_campaigns=own,
                )
                posteriors = calibrate.compare(
                    s, queries.campaign_ids(s, name), mine, sc, [row.formula for row in r.rows]
                )
                for j, row in enumerate(r.rows):
                    smp = queries.sample(s, row.sample_id)
                    queries.set_sample_status(s, smp, SampleStatus.SYNTHESIZED)
                    _, measurement = lab.measure_one(
                        s,
                        oracle,
                        row.formula,
                        rate=obj.rate,
                        window=obj.window,
                        cycles=cycles,
                        noise=NoiseModel(),
                        rng=rng,
                        sample=smp,
                        synthesis=synthesis,
                    )
                    run.made.append(row.formula)
                    q = [q for c, _, q in measurement.profiles if c == obj.cycle]
                    if q and obj.rate == measurement.rate:
                        run.predictions.append(
                            {
                                "round": rnd + 1,
                                "measured": float(np.max(q[0])),
                                "calibrated": [row.calibrated, row.sigma_calibrated],
                                **{k: v[j] for k, v in posteriors.items()},
                            }
                        )
                    found = true_of.get(row.formula, 0.0)
                    if measurement.failed:
                        why = FailureReason(smp.failure_reason)
                        run.failures[why.value] = run.failures.get(why.value, 0) + 1
                        run.failed_syntheses += why.synthesis
                        found = 0.0 if synthesis else found  # a failed synthesis finds nothing
                    best = max(best, found)
                    run.true_best.append(float(best))
                    if run.syntheses_to_top is None and found >= top:
                        run.syntheses_to_top = len(run.made)
            if rnd < rounds - 1:
                # every cell of the round may have failed: then there is nothing new
                with store.transaction() as s, contextlib.suppress(NothingToFinetuneError):
                    training.finetune(s, scope=name, epochs=finetune_epochs, seed=seed, campaign_ids=own)
            bar({})
    run.regret = float(truth.max() - best)
    return run


def start_seed(
    store: Store,
    oracle: Oracle,
    start_from: str,
    seed: int,
    n_start: int,
    epochs: int,
    say: Callable[[str], None] = lambda s: None,
    bars: Callable[..., ProgressBar] = silent,
    synthesis: SynthesisRules | None = None,
) -> int:
    """Starting data (shared by every strategy of a seed) and the initial ensemble's version id."""
    from drxlab.profiles.importers import read_files
    from drxlab.workflow.ingest import import_files

    with bars(f"starting data, seed {seed}", None, "sample") as bar, store.transaction() as s:
        camp, _ = queries.add_campaign_revision(s, f"start-s{seed}", "", "")
        if start_from in ("2TM", "3TM", "HE", "2TM,3TM"):
            lab.seed(
                s,
                oracle,
                n=n_start,
                classes=start_from.split(","),
                seed_=seed,
                noise=NoiseModel(),
                campaign_id=camp.id,
                tests=START_TESTS,
                on_sample=bar.step,
                synthesis=synthesis,
            )
        else:
            path = Path(start_from)
            if not path.exists():
                raise DrxlabError(f"start_from={start_from!r}: expected a class (2TM, 3TM) or a data file")
            parsed, _ = read_files([path])
            import_files(s, parsed, campaign_id=camp.id)
        ids = [r.test_id for r in queries.test_records(s, campaign_id=camp.id)]
    from drxlab.training.trainer import train_ensemble

    with bars(f"initial ensemble, seed {seed}", 5 * epochs, "epoch") as bar, store.transaction() as s:
        recs = queries.test_records(s, test_ids=ids)
        ens = train_ensemble(
            recs,
            members=5,
            epochs=epochs,
            seed=seed,
            model_args=training.TINY_MODEL,
            progress=bar,
        )
        row, _ = models.register(
            s,
            ens,
            source="trained",
            training={"test_ids": ids, "seed": seed, "start_from": start_from},
            scope=None,
        )
    say(f"seed {seed}: {len(ids)} starting tests ({start_from}), initial ensemble version {row.id}")
    return row.id
