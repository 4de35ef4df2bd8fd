"""One suggestion round: screen the campaign space, pick a diverse batch, record it as proposed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
from sqlmodel import Session

from drxlab.acquisition import domain
from drxlab.acquisition.select import select_batch
from drxlab.candidates.spec import CampaignSpec
from drxlab.chem import compositions
from drxlab.exceptions import CampaignError
from drxlab.profiles.process import energy_density
from drxlab.store import queries
from drxlab.store.tables import Suggestion, dumps
from drxlab.vocabulary import AcquisitionKind, ObjectiveKind, SampleStatus
from drxlab.workflow import campaigns, models
from drxlab.workflow.ingest import material
from drxlab.workflow.screening import Screen, features, screen


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

    def as_dict(self) -> dict:
        return asdict(self)


def best_measured(session: Session, campaign_ids: list[int], spec: CampaignSpec) -> float | None:
    """Best measured value of the primary objective among campaign tests, in its units.

    Capacity kinds: Q(V_low) at the objective's rate and cycle (mAh/g); energy: ∫V dQ of that
    profile (mWh/g); retention: a sample's capacity at ``rate`` over its capacity at ``base_rate``.
    logEI and PI compare it with the predictions, so it must be the same quantity.
    """
    obj = spec.objectives[0]
    recs = [
        rec
        for cid in campaign_ids
        for rec in queries.test_records(session, campaign_id=cid, max_cycle=obj.cycle)
        if obj.cycle in rec.profiles
    ]

    def at(rate: float) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(sample id, V, Q) of the objective's cycle in tests at ``rate``."""
        return [(r.sample_id, *r.profiles[obj.cycle][:2]) for r in recs if abs(r.rate - rate) <= 1e-6]

    if obj.kind == ObjectiveKind.RETENTION:
        base = {}
        for sid, _, q in at(obj.base_rate):
            base.setdefault(sid, float(q[0]))
        values = [float(q[0]) / base[sid] for sid, _, q in at(obj.rate) if base.get(sid, 0.0) > 0]
    elif obj.kind == ObjectiveKind.ENERGY:
        values = [float(energy_density(v, q)) for _, v, q in at(obj.rate)]
    else:
        values = [float(q[0]) for _, _, q in at(obj.rate)]
    return max(values, default=None)


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
) -> Round:
    """Screen, select and record a batch of proposed samples for a campaign.

    ``campaign`` is a spec already read (registered here, as a new revision if it changed) or a
    reference resolved by :func:`drxlab.workflow.campaigns.resolve`. With ``scored`` (the
    candidates screened by the caller, outside the write lock) the model's weights are not loaded
    again. Command-line values override the campaign file's ``[acquisition]`` table.
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
    taken = queries.made_or_suggested_formulas(session, ids)
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
    sel = select_batch(
        X,
        sc.Y,
        kind=acq.kind,
        batch=acq.batch,
        kappa=acq.kappa,
        best_f=best_f,
        xi=acq.xi,
        min_distance=acq.min_distance,
        exclude=exclude,
        seed=seed_,
    )
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
        "spec_sha256": spec.sha256,
        "revision": camp.revision,
    }
    rows = []
    for rank, (i, a, m, s, ni, nd) in enumerate(
        zip(sel.indices, sel.acquisition, sel.mean, sel.std, near_idx, near_d), start=1
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
        objs = {o.name: [float(m[k]), float(s[k])] for k, o in enumerate(spec.objectives)}
        nearest = known[ni][0] if ni >= 0 else ""
        flag = domain.domain_flag(float(s[0]), float(nd), sig_thr)
        session.add(
            Suggestion(
                sample_id=smp.id,
                campaign_id=camp.id,
                model_version_id=version.id,
                acquisition=acq.kind,
                params_json=dumps(params),
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
