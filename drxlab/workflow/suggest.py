"""One suggestion round: screen the campaign space, pick a diverse batch, record it as proposed."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from sqlmodel import Session

from drxlab.acquisition import domain
from drxlab.acquisition.select import select_batch
from drxlab.candidates.spec import CampaignSpec
from drxlab.chem import compositions
from drxlab.exceptions import CampaignError
from drxlab.store import queries
from drxlab.store.tables import Suggestion, dumps
from drxlab.vocabulary import AcquisitionKind, SampleStatus
from drxlab.workflow import calibrate, campaigns, models, posterior
from drxlab.workflow.feasibility import Feasibility, screen_moments
from drxlab.workflow.ingest import material
from drxlab.workflow.posterior import FEASIBILITY_OFF
from drxlab.workflow.screening import Screen, features, screen

BLOCKWISE = ("ucb", "logei", "pi", "greedy", "explore")  # scored per candidate, block by block


@dataclass(frozen=True)
class Suggested:
    """One row of a suggestion table."""

    rank: int
    sample_id: int
    formula: str
    klass: str
    predicted: float  # primary objective mean (mAh/g for capacity)
    sigma: float
    objectives: dict  # name -> [mean, σ]
    acquisition: float
    nearest: str
    distance: float
    domain: str
    oxidation_states: dict  # species -> amount per f.u.
    calibrated: float | None = None  # primary objective mean after calibration
    sigma_calibrated: float | None = None  # its calibrated σ (>= sigma, the raw σ_Q)
    p_feasible: float | None = None  # P(synthesis succeeds); None when feasibility is off or unknown


@dataclass(frozen=True)
class Round:
    """A recorded suggestion round."""

    campaign: str
    revision: int
    round: int
    model_version: int
    kind: str
    params: dict
    n_candidates: int
    min_distance: float
    warning: str | None
    rows: list[Suggested]
    calibration: dict | None = None  # method, sha256, n, fallback, summary
    feasibility: str = ""  # what the feasibility model did (or why it was not used)
    pending: int = 0  # pending samples fantasised at their posterior mean (kriging believer)
    pending_distance: float | None = None  # smallest L1 distance from this batch to them

    def as_dict(self) -> dict:
        return asdict(self)


def best_measured(session: Session, campaign_ids: list[int], spec: CampaignSpec) -> float | None:
    """Best measured value of the primary objective among campaign tests, in its units: the
    largest of :func:`drxlab.workflow.calibrate.measured` (capacity Q(V_low) in mAh/g, energy in
    mWh/g or retention, at the objective's conditions). logEI and PI compare it with the
    predictions, so it must be the same quantity."""
    return max(calibrate.measured(session, campaign_ids, spec).values(), default=None)


def suggest(
    session: Session,
    campaign: str | CampaignSpec,
    *,
    n: int | None = None,
    kind: str | None = None,
    kappa: float | None = None,
    seed: int | None = None,
    min_distance: float | None = None,
    model_ref: str | None = None,
    on_chunk: Callable[[int], None] | None = None,
    scored: Screen | None = None,
    calibration: str | None = None,
    feasibility: bool | None = None,
    data_campaigns: Sequence[int] | None = None,
) -> Round:
    """Screen, select and record a batch of proposed samples for a campaign.

    ``campaign`` is a spec already read (registered here, as a new revision if it changed) or a
    reference resolved by :func:`drxlab.workflow.campaigns.resolve`. With ``scored`` (the
    candidates screened by the caller, outside the write lock) the model's weights are not loaded
    again. Command-line values override the campaign file's ``[acquisition]`` table.

    Acquisition sees the calibrated posterior of the primary objective (``calibration`` or the
    campaign's ``[acquisition] calibration``; :mod:`drxlab.workflow.calibrate`), refitted here
    from the store and saved with the model version; ``Suggestion.predicted``/``predicted_std``
    keep the raw ensemble mean and σ_Q, the calibrated pair goes to the suggestion's params.
    ``feasibility`` overrides the file's ``feasibility``. ``data_campaigns`` limits what the round
    learns from (the feasibility model's syntheses) and what counts as already made (tested) to
    those campaigns; default the whole store (a lab does not make a composition twice; a
    simulation keeps its campaigns apart). Pending samples of the campaign are
    fantasised at their posterior mean (:func:`drxlab.acquisition.pending.believe`) and, like
    picks within a batch, keep new picks ``min_distance`` away.
    """
    if isinstance(campaign, CampaignSpec):
        spec = campaign
        camp, _ = campaigns.register(session, spec)
    else:
        camp, spec = campaigns.resolve(session, campaign)
    acq = spec.acquisition
    acq = replace(
        acq,
        **{
            k: v
            for k, v in {
                "kind": kind,
                "kappa": kappa,
                "batch": n,
                "min_distance": min_distance,
                "seed": seed,
                "calibration": calibration,
            }.items()
            if v is not None
        },
    )
    if scored is None:
        version, ensemble = models.resolve(session, model_ref, camp.name)
        scored = screen(spec, ensemble, on_chunk=on_chunk)
    else:
        version = models.version_row(session, model_ref, camp.name)
    sc = scored
    ids = queries.campaign_ids(session, camp.name)
    taken = queries.made_or_suggested_formulas(session, ids, tested_in=data_campaigns)
    formulas = [compositions.format_formula(dict(zip(sc.elements, row))) for row in sc.X.tolist()]
    exclude = np.fromiter((f in taken for f in formulas), bool, len(formulas))
    if exclude.all():
        raise CampaignError(
            f"every one of the {sc.size} candidates of campaign {camp.name!r} is already "
            "made or suggested; widen the space in the campaign file"
        )
    known = [
        (f, json.loads(queries.material_by_formula(session, f).amounts_json))
        for f in queries.tested_formulas(session)
    ]
    X = np.hstack([sc.X, np.zeros((len(sc.X), 1))])
    known_X = np.array([features(sc.elements, a) for _, a in known]) if known else np.zeros((0, X.shape[1]))
    best_f = best_measured(session, ids, spec)
    if best_f is None and AcquisitionKind(acq.kind).needs_best:
        # nothing measured yet at these conditions: improve on a typical candidate of the space
        best_f = sc.primary_median()
    seed_ = int(acq.seed if acq.seed is not None else 0)
    use_feasibility = acq.feasibility if feasibility is None else feasibility
    fitted = getattr(sc, "fitted", None)  # a distributed screen: fitted and applied by its workers
    if fitted is None:
        screened = posterior.Rows.of_screen(sc, formulas, posterior.wanted(session, ids, spec))
        fitted = posterior.fit(
            session,
            spec,
            ids,
            rows=screened,
            typical=abs(sc.primary_median()) or 1.0,
            calibration=acq.calibration,
            feasibility=use_feasibility,
            min_distance=acq.min_distance,
            space=screen_moments(sc),
            data_campaigns=data_campaigns,
        )
        applied = posterior.apply_to_screen(fitted.transform, sc)
    else:
        applied = sc.applied
        shipped_off = fitted.feasibility == FEASIBILITY_OFF
        if fitted.calibration.method != acq.calibration or shipped_off == use_feasibility:
            raise CampaignError(
                f"the candidates were ranked with calibration {fitted.calibration.method!r} and "
                f"{fitted.feasibility!r}, but this round asks for calibration {acq.calibration!r} "
                f"with feasibility {'on' if use_feasibility else 'off'}; screen them again"
            )
    cal, pend_n = fitted.calibration, fitted.pending
    mean_raw, std_raw = sc.Y[..., 0].mean(0), sc.Y[..., 0].std(0)
    if cal.method != "none":
        calibrate.save(session, version, camp.name, spec, sc, cal)
    feas = Feasibility(applied.p_feasible, fitted.feasibility)
    posterior_Y = applied.posterior  # calibrated (or raw), before pending samples are fantasised
    exclude |= applied.near_pending
    scores = getattr(sc, "scores", None)  # a distributed screen: the workers' values
    if scores is None and acq.kind in BLOCKWISE:
        scores = posterior.score_screen(
            applied, sc.chunk, ~exclude, kind=acq.kind, kappa=acq.kappa, best_f=best_f, xi=acq.xi
        )
    sel = select_batch(
        X,
        applied.rank,
        kind=acq.kind,
        batch=acq.batch,
        kappa=acq.kappa,
        best_f=best_f,
        xi=acq.xi,
        min_distance=acq.min_distance,
        exclude=exclude,
        seed=seed_,
        feasibility=None if scores is not None else feas.p,  # scores are weighted already
        scores=scores,
    )
    # record the posterior's own moments, not the fantasised ones the ranking used
    sel_mean, sel_std = posterior_Y[:, sel.indices].mean(0), posterior_Y[:, sel.indices].std(0)
    near_idx, near_d = domain.nearest_known(X[sel.indices], known_X)
    sig_thr = domain.SIGMA_FACTOR * sc.sigma_median()
    samples = queries.samples_of_campaign(session, ids)
    rnd = max([s.round or 0 for s, _ in samples], default=0) + 1
    params = {
        "kappa": acq.kappa,
        "batch": acq.batch,
        "min_distance": acq.min_distance,
        "xi": acq.xi,
        "best_f": best_f,
        "feasibility": feas.note,
        "pending": pend_n,
        "spec_sha256": spec.sha256,
        "revision": camp.revision,
        "calibration": cal.method,
        "calibration_sha256": cal.sha256,
    }
    rows = []
    for rank, (i, a, m, s, ni, nd) in enumerate(
        zip(sel.indices, sel.acquisition, sel_mean, sel_std, near_idx, near_d), start=1
    ):
        amts = {el: float(x) for el, x in zip(sc.elements, sc.X[i]) if x > 0}
        formula = formulas[i]
        mat = material(session, formula, amts, _average_states(sc, i))
        smp = queries.add_sample(
            session,
            mat.id,
            campaign_id=camp.id,
            status=SampleStatus.PROPOSED,
            round=rnd,
            notes=f"suggested by {acq.kind}, rank {rank}",
        )
        m_cal, s_cal = float(m[0]), float(s[0])
        p_ok = float(feas.p[i]) if feas.p is not None else None
        m, s = m.copy(), s.copy()
        m[0], s[0] = mean_raw[i], std_raw[i]  # the table keeps the raw ensemble; calibrated in params
        objs = {o.name: [float(m[k]), float(s[k])] for k, o in enumerate(spec.objectives)}
        nearest = known[ni][0] if ni >= 0 else ""
        flag = domain.domain_flag(float(s[0]), float(nd), sig_thr)
        session.add(
            Suggestion(
                sample_id=smp.id,
                campaign_id=camp.id,
                model_version_id=version.id,
                acquisition=acq.kind,
                params_json=dumps({**params, "calibrated": [m_cal, s_cal], "p_feasible": p_ok}),
                seed=seed_,
                rank=rank,
                predicted=float(m[0]),
                predicted_std=float(s[0]),
                acq_value=float(a),
                objectives_json=dumps(objs),
                nearest_formula=nearest,
                nearest_distance=float(nd) if np.isfinite(nd) else -1.0,
                domain=flag,
            )
        )
        ox = {sp: float(u) for sp, u in zip(sc.species, sc.species_amounts[i]) if u > 0}
        rows.append(
            Suggested(
                rank,
                smp.id,
                formula,
                mat.klass,
                float(m[0]),
                float(s[0]),
                objs,
                float(a),
                nearest,
                float(nd),
                flag,
                ox,
                m_cal,
                s_cal,
                p_ok,
            )
        )
    session.flush()
    return Round(
        camp.name,
        camp.revision,
        rnd,
        version.id,
        acq.kind,
        params,
        sc.size,
        float(sel.min_distance),
        sel.warning,
        rows,
        {
            "method": cal.method,
            "sha256": cal.sha256,
            "n": cal.n,
            "fallback": cal.fallback,
            "summary": cal.summary(),
        },
        feas.note,
        pend_n,
        fitted.transform.believer.distance(X[sel.indices]) if fitted.transform.believer else None,
    )


def _average_states(sc: Screen, i: int) -> dict[str, float]:
    """Average oxidation state per element from the candidate's species assignment."""
    charge: dict[str, float] = {}
    amount: dict[str, float] = {}
    for label, a in zip(sc.species, sc.species_amounts[i]):
        if a <= 0:
            continue
        el = label.rstrip("+-0123456789")
        q = int(label[len(el) :].rstrip("+"))
        charge[el] = charge.get(el, 0.0) + q * a
        amount[el] = amount.get(el, 0.0) + a
    states = {el: charge[el] / amount[el] for el in charge}
    states.update({"Li": 1.0, "O": -2.0})
    if "F" in sc.elements and sc.X[i][sc.elements.index("F")] > 0:
        states["F"] = -1.0
    return states
