"""Fine-tune an ensemble on a few new tests, with replay of old data (the paper's first-cycle
fine-tuning).

Every member is deep-copied and warm-started; the original ensemble is untouched. Batch-norm
layers stay in eval mode throughout (running statistics frozen): a handful of new profiles
makes tiny, homogeneous batches that would otherwise ruin them (DRXNET.md). Each epoch mixes
all new points with an equal-sized random draw of replay points (old tests, or the parent
ensemble's own predictions when its training data is not available), so the model learns the
new tests without forgetting what it knew. Same loss as :mod:`drxlab.training.trainer`.

Example::

        tuned = finetune_ensemble(ens, new=[lmto_cycle1], replay=replay, epochs=8)
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from drxlab.exceptions import NothingToFinetuneError, TrainingError
from drxlab.executors import Executor
from drxlab.model.ensemble import Ensemble
from drxlab.profiles.records import TestRecord
from drxlab.training.dataset import PointSet, to_points
from drxlab.training.trainer import LR_GAMMA, WEIGHT_DECAY, Progress, batch_loss, torch_threads

ReplayTargets = Literal["data", "parent"]
REPLAY_RATIO = 1.0  # replay points per new point in each epoch
MIN_FT_BATCHES = 0  # batches per fine-tuning epoch at the least (0: one pass over new + replay draws)
# Fine-tuned by default: the composition encoder only. New tests are about new compositions;
# the rate, cycle and voltage networks learned from the large data set stay as they are, so a
# first-cycle profile moves the composition's representation (and with it, through the
# unchanged cycle network, the whole cycling trend) instead of re-fitting the cycle physics to
# one composition. On the measured LMTO file this cuts the cycle 2–10 capacity MAE by ~3/4,
# where fine-tuning every layer gets ~1/5 (see tests/training/test_finetune.py).
DEFAULT_TRAINABLE: tuple[str, ...] = ("material_nn.",)


def _freeze_batchnorm(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


def _epoch_indices(new_n: int, replay_n: int, ratio: float, gen: torch.Generator) -> torch.Tensor:
    """Shuffled indices into ``new ++ replay``: all new points plus ``ratio * new_n`` replay points."""
    idx = torch.arange(new_n)
    if replay_n:
        k = min(replay_n, max(1, int(round(ratio * new_n))))
        idx = torch.cat([idx, new_n + torch.randperm(replay_n, generator=gen)[:k]])
    return idx[torch.randperm(len(idx), generator=gen)]


def _concat(a: PointSet, b: PointSet | None) -> PointSet:
    if b is None:
        return a
    off = len(a.compositions)
    fields = {}
    for name in ("rate", "cycle", "v_low", "v_high", "voltage", "q", "dqdv", "q1", "q1_mask"):
        fields[name] = torch.cat([getattr(a, name), getattr(b, name)])
    return PointSet(
        compositions=a.compositions + b.compositions,
        comp=torch.cat([a.comp, b.comp + off]),
        test=torch.cat([a.test, b.test + int(a.test.max()) + 1]),
        **fields,
    )


def synthetic_replay(
    ensemble: Ensemble,
    compositions: Sequence[str | Mapping[str, float]],
    *,
    rates: Sequence[float] = (20.0, 200.0),
    cycles: Sequence[int] = (1, 2, 5, 10, 20),
    v_low: float = 1.5,
    v_high: float = 4.8,
    n_points: int = 100,
) -> list[TestRecord]:
    """Replay tests made of ``ensemble``'s own mean curves (when its training data is not at hand).

    One test per composition and rate, with a profile (V, mean Q, mean dQ/dV) per cycle.
    """
    out = []
    for comp in compositions:
        for rate in rates:
            p = ensemble.predict_curves(
                [comp] * len(cycles), rate, v_low, v_high, np.asarray(cycles), n_points=n_points
            )
            profiles = {int(c): (p.voltage[k], p.q_mean[k], p.dqdv_mean[k]) for k, c in enumerate(cycles)}
            out.append(
                TestRecord(
                    formula=p.formulas[0], rate=float(rate), v_low=v_low, v_high=v_high, profiles=profiles
                )
            )
    return out


def parent_targets(model: nn.Module, points: PointSet, batch: int = 4096) -> PointSet:
    """``points`` with targets Q, dQ/dV and Q1 replaced by ``model``'s own predictions (eval mode)."""
    was_training = model.training
    model.eval()
    q, dq, q1 = [], [], []
    for lo in range(0, points.n, batch):
        b = points.batch(torch.arange(lo, min(lo + batch, points.n)))
        v = b.voltage.unsqueeze(1).requires_grad_(True)
        out = model(
            b.graph, comp_idx=b.comp, rate=b.rate, cycle=b.cycle, window=b.window, voltage=v, first_cycle=True
        )
        (grad,) = torch.autograd.grad(out.q.sum(), v)
        q.append(out.q[:, 0].detach()), dq.append(grad[:, 0]), q1.append(out.q1[:, 0].detach())
    model.train(was_training)
    return dataclasses.replace(
        points, q=torch.cat(q), dqdv=torch.cat(dq), q1=torch.cat(q1), q1_mask=torch.ones_like(points.q1_mask)
    )


def finetune_ensemble(
    ensemble: Ensemble,
    new: Sequence[TestRecord],
    replay: Sequence[TestRecord] = (),
    *,
    epochs: int = 20,
    lr: float = 1e-3,
    seed: int = 0,
    progress: Progress | None = None,
    batch: int = 1024,
    replay_ratio: float = REPLAY_RATIO,
    trainable: Sequence[str] | None = DEFAULT_TRAINABLE,
    replay_targets: ReplayTargets = "parent",
    threads: int | None = 1,
    min_batches: int = MIN_FT_BATCHES,
    l2sp: float = 0.0,
    executor: Executor | None = None,
) -> Ensemble:
    """A new ensemble: each member of ``ensemble`` fine-tuned on ``new`` mixed with ``replay``.

    Args:
        ensemble: the parent (not modified).
        new: the new tests to learn.
        replay: old tests (or the parent's own predicted curves) to keep.
        epochs: passes over the new points per member.
        lr: Adam learning rate (weight decay 1e-4, ExponentialLR 0.9 per epoch).
        seed: seeds the shuffling and the replay draws.
        progress: called once per epoch with a dict (member, epoch, epochs, total, loss).
        batch: points per batch.
        replay_ratio: replay points drawn per new point in each epoch.
        replay_targets: ``"data"``: the replay tests' own Q and dQ/dV are the targets (stored
            measurements); ``"parent"``: each member is anchored to what *it* predicted at the
            replay points before fine-tuning (self-distillation; use it for synthetic replay,
            e.g. :func:`synthetic_replay`, whose ensemble-mean curves would otherwise pull
            every member towards the mean, moving it on compositions nobody measured).
        trainable: parameter-name prefixes to fine-tune (default :data:`DEFAULT_TRAINABLE`, the
            composition encoder); None fine-tunes every parameter but batch norm's.
        threads: torch threads while fine-tuning (restored after); 1 by default, since these
            small batches gain little from more and lose 10-100x when cores are shared.
        min_batches: batches per epoch at the least (new + replay draws repeated).
        l2sp: weight of the L2-SP penalty ``l2sp * Σ (θ − θ_parent)²`` over the fine-tuned
            parameters (0: none). It anchors each member to its parent's weights, so what one
            new composition teaches stays local instead of repainting every prediction.
        executor: a Ray executor fine-tunes one member per task (the same weights on CPU).
    """
    if not new:
        raise NothingToFinetuneError("nothing to fine-tune on: no new tests given")
    if epochs < 1:
        raise TrainingError(f"{epochs=} must be >= 1")
    with torch_threads(threads):
        return _finetune(
            ensemble,
            new,
            replay,
            epochs=epochs,
            lr=lr,
            seed=seed,
            progress=progress,
            batch=batch,
            replay_ratio=replay_ratio,
            trainable=trainable,
            replay_targets=replay_targets,
            min_batches=min_batches,
            l2sp=l2sp,
            executor=executor,
            threads=threads,
        )


def _finetune(
    ensemble: Ensemble,
    new: Sequence[TestRecord],
    replay: Sequence[TestRecord],
    *,
    epochs: int,
    lr: float,
    seed: int,
    progress: Progress | None,
    batch: int,
    replay_ratio: float,
    trainable: Sequence[str] | None,
    replay_targets: ReplayTargets,
    min_batches: int = 0,
    l2sp: float = 0.0,
    executor: Executor | None = None,
    threads: int | None = 1,
) -> Ensemble:
    if l2sp < 0:
        raise TrainingError(f"{l2sp=} must be >= 0")
    if replay_targets not in ("data", "parent"):
        raise TrainingError(f"{replay_targets=} must be 'data' or 'parent'")
    new_pts = to_points(new)
    replay_pts = to_points(replay) if replay else None
    kw = {
        "members": len(ensemble),
        "epochs": epochs,
        "lr": lr,
        "seed": seed,
        "batch": batch,
        "replay_ratio": replay_ratio,
        "trainable": trainable,
        "replay_targets": replay_targets,
        "min_batches": min_batches,
        "l2sp": l2sp,
    }
    if executor is not None and executor.is_ray:
        from drxlab.training.ray_members import finetune_members_ray

        tuned = finetune_members_ray(
            executor, ensemble.members, new_pts, replay_pts, threads=threads, progress=progress, **kw
        )
    else:
        tuned = [
            finetune_member(k, parent, new_pts, replay_pts, progress=progress, **kw)
            for k, parent in enumerate(ensemble.members)
        ]
    return Ensemble(tuned, strategy=ensemble.strategy)


def finetune_member(
    k: int,
    parent: nn.Module,
    new_pts: PointSet,
    replay_pts: PointSet | None,
    *,
    members: int,
    epochs: int,
    lr: float,
    seed: int,
    batch: int,
    replay_ratio: float,
    trainable: Sequence[str] | None,
    replay_targets: ReplayTargets,
    min_batches: int,
    l2sp: float,
    progress: Progress | None = None,
) -> nn.Module:
    """Member ``k`` (of ``members``) fine-tuned from ``parent`` (deep-copied); depends on nothing
    but its arguments, so a Ray task (:mod:`drxlab.training.ray_members`) returns the same weights."""
    replay_n = replay_pts.n if replay_pts is not None else 0
    anchor = replay_pts
    if replay_pts is not None and replay_targets == "parent":
        anchor = parent_targets(parent, replay_pts)
    points = _concat(new_pts, anchor)
    model = copy.deepcopy(parent)
    model.train()
    _freeze_batchnorm(model)
    if trainable is not None:
        for name, p in model.named_parameters():
            if not any(name.startswith(t) for t in trainable):
                p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]
    # L2-SP replaces weight decay: decay pulls every weight towards 0, i.e. away from the parent
    opt = torch.optim.Adam(params, lr=lr, weight_decay=0.0 if l2sp else WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=LR_GAMMA)
    gen = torch.Generator().manual_seed(seed * 1000 + k)
    for epoch in range(epochs):
        # like training, an epoch is at least MIN_BATCHES batches: a few new profiles are
        # one or two batches, too few steps to move the composition representation
        idx = _epoch_indices(new_pts.n, replay_n, replay_ratio, gen)
        idx = torch.cat(
            [idx]
            + [
                _epoch_indices(new_pts.n, replay_n, replay_ratio, gen)
                for _ in range(-(-min_batches * batch // len(idx)) - 1)
            ]
        )
        total = 0.0
        for lo in range(0, len(idx), batch):
            b = idx[lo : lo + batch]
            loss, _ = batch_loss(model, points.batch(b))
            if l2sp:
                loss = loss + l2sp * sum(((p - p0) ** 2).sum() for p, p0 in zip(params, start))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        sched.step()
        if progress is not None:
            progress(
                {
                    "member": k + 1,
                    "members": members,
                    "epoch": epoch + 1,
                    "epochs": epochs,
                    "total": members * epochs,
                    "loss": total / len(idx),
                }
            )
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval()
