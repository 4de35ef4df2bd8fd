"""Train a DRXNet ensemble from scratch with the paper's loss (Methods C).

Loss per batch of voltage points::

    MSE(Q_N) + MSE(dQ/dV) + 5 * MAE(Q_1) + 1e-4 * ||dQ_N/dc||

where dQ/dV is the autograd derivative of Q_N with respect to V (kept in the graph, so the
dQ/dV error trains the network), Q_1 comes from the first-cycle branch (X_O1) and is masked
for tests without a cycle 1, and ``dQ/dc`` is the gradient of the summed Q_N with respect to
the node weights (a composition-smoothness penalty; here summed over the batch's points of each
composition, as every composition's graph is built once per batch). Adam (lr 1e-3, weight decay
1e-4 for the ℓ2 term), ExponentialLR gamma 0.9 per epoch, 1024 points per batch, 30 epochs,
members independently initialised. Everything is seeded: the same data and seed give the same
ensemble.

Example::

        ens = train_ensemble(data, members=5, epochs=30, seed=0)
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from drxlab.chem.compositions import normalise
from drxlab.exceptions import TrainingError
from drxlab.executors import Executor
from drxlab.model.drxnet import DRXNet
from drxlab.model.ensemble import Ensemble
from drxlab.profiles.records import TestRecord
from drxlab.progress import Progress
from drxlab.threads import requested_threads
from drxlab.training.dataset import PointBatch, PointSet, to_points

W_Q, W_DQ, W_Q1, W_DQDC = 1.0, 1.0, 5.0, 1e-4
WEIGHT_DECAY = 1e-4
LR_GAMMA = 0.9
MIN_BATCHES = 40  # batches per epoch at the least (small data sets are passed over repeatedly)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (None: leave it), restoring it after.

    A user's ``--threads`` / ``$DRXLAB_THREADS`` for the running command wins over ``n``; otherwise
    ``n`` is capped by the threads the command chose for the machine's load.
    """
    old = torch.get_num_threads()
    n = requested_threads() or (min(n, old) if n else None)
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def split_by_composition(
    data: Sequence[TestRecord], fraction: float, seed: int
) -> tuple[list[TestRecord], list[TestRecord]]:
    """Split tests so that no composition is in both parts: ``(train, held_out)``.

    About ``fraction`` of the distinct (normalised) compositions, at least one when
    ``fraction > 0`` and there are two or more, go to the held-out part.
    """
    if not 0.0 <= fraction < 1.0:
        raise TrainingError(f"{fraction=} must be in [0, 1)")
    formulas = sorted({normalise(d.formula) for d in data})
    n_out = int(round(fraction * len(formulas)))
    if fraction > 0 and len(formulas) > 1:
        n_out = min(max(n_out, 1), len(formulas) - 1)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(formulas, size=n_out, replace=False).tolist()) if n_out else set()
    train = [d for d in data if normalise(d.formula) not in held]
    return train, [d for d in data if normalise(d.formula) in held]


def batch_loss(model: DRXNet, batch: PointBatch) -> tuple[torch.Tensor, dict[str, float]]:
    """The paper's loss on one batch (a scalar with graph) and its terms as floats."""
    graph = batch.graph.with_weight_grad()
    v = batch.voltage.unsqueeze(1).clone().requires_grad_(True)  # B x 1
    out = model(
        graph,
        comp_idx=batch.comp,
        rate=batch.rate,
        cycle=batch.cycle,
        window=batch.window,
        voltage=v,
        first_cycle=True,
    )
    q, q1 = out.q[:, 0], out.q1[:, 0]
    dqdv, dqdc = torch.autograd.grad(q.sum(), (v, graph.node_weights), create_graph=True)
    terms = {
        "q_mse": F.mse_loss(q, batch.q),
        "dqdv_mse": F.mse_loss(dqdv[:, 0], batch.dqdv),
        "q1_mae": (
            F.l1_loss(q1[batch.q1_mask], batch.q1[batch.q1_mask])
            if bool(batch.q1_mask.any())
            else q.new_zeros(())
        ),
        "dqdc_norm": dqdc.norm(),
    }
    loss = (
        W_Q * terms["q_mse"] + W_DQ * terms["dqdv_mse"] + W_Q1 * terms["q1_mae"] + W_DQDC * terms["dqdc_norm"]
    )
    return loss, {k: float(t.detach()) for k, t in terms.items()}


def points_mae(model: nn.Module, points: PointSet, batch: int = 8192) -> float:
    """MAE of Q_N over all points (mAh/g), model in eval mode, no autograd."""
    was_training = model.training
    model.eval()
    err, n = 0.0, 0
    with torch.no_grad():
        for lo in range(0, points.n, batch):
            b = points.batch(torch.arange(lo, min(lo + batch, points.n)))
            q = model(
                b.graph,
                comp_idx=b.comp,
                rate=b.rate,
                cycle=b.cycle,
                window=b.window,
                voltage=b.voltage.unsqueeze(1),
            ).q[:, 0]
            err += float((q - b.q).abs().sum())
            n += len(b.q)
    model.train(was_training)
    return err / max(n, 1)


def fit_member(
    model: DRXNet,
    points: PointSet,
    *,
    epochs: int,
    batch: int,
    lr: float,
    generator: torch.Generator,
    freeze_batchnorm: bool = False,
    val: PointSet | None = None,
    progress: Progress | None = None,
    info: Mapping[str, Any] | None = None,
    min_batches: bool = True,
) -> DRXNet:
    """Train ``model`` in place on ``points``; returns it in eval mode.

    With ``freeze_batchnorm`` the batch-norm layers stay in eval mode (running statistics,
    not updated). With ``val`` the state of the epoch with the lowest validation capacity MAE
    is kept. ``progress`` gets one dict per epoch (``info`` merged in, plus epoch and loss).
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=LR_GAMMA)
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    for epoch in range(epochs):
        model.train()
        if freeze_batchnorm:
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        # An epoch is at least MIN_BATCHES batches: on a lab's small data set one pass is a few
        # batches, and the paper's per-epoch learning-rate decay would end training too early.
        passes = max(1, -(-MIN_BATCHES * batch // max(points.n, 1))) if min_batches else 1
        perm = torch.cat([torch.randperm(points.n, generator=generator) for _ in range(passes)])
        total, count = 0.0, 0
        for lo in range(0, len(perm), batch):
            idx = perm[lo : lo + batch]
            if len(idx) < 2 and not freeze_batchnorm:
                continue  # batch norm needs two samples
            loss, _ = batch_loss(model, points.batch(idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        sched.step()
        report: dict[str, Any] = {
            **(info or {}),
            "epoch": epoch + 1,
            "epochs": epochs,
            "loss": total / max(count, 1),
        }
        if val is not None:
            report["val_mae"] = points_mae(model, val)
            if best is None or report["val_mae"] < best[0]:
                best = (report["val_mae"], copy.deepcopy(model.state_dict()))
        if progress is not None:
            progress(report)
    if best is not None:
        model.load_state_dict(best[1])
    return model.eval()


def train_ensemble(
    data: Sequence[TestRecord],
    *,
    members: int = 5,
    epochs: int = 30,
    batch: int = 1024,
    lr: float = 1e-3,
    seed: int = 0,
    model_args: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    val_data: Sequence[TestRecord] | None = None,
    threads: int | None = 1,
    executor: Executor | None = None,
) -> Ensemble:
    """Train ``members`` independently initialised DRXNets on ``data`` (reproducible per seed).

    Args:
        data: training tests.
        members: ensemble size.
        epochs: passes over the points per member.
        batch: voltage points per batch.
        lr: Adam learning rate.
        seed: seeds initialisation (member ``k`` uses ``seed * 1000 + k``) and shuffling.
        model_args: DRXNet keyword arguments (default: the released configuration).
        progress: called once per epoch with a dict (member, epoch, epochs, total, loss,
            val_mae when ``val_data`` is given).
        val_data: held-out tests; when given, each member keeps its best epoch on them.
        threads: torch threads while training (restored after); 1 by default: batches of ~1k
            points gain little from more, and lose 10-100x when the cores are shared.
        executor: a Ray executor trains one member per task (the same weights on CPU).
    """
    for name, value in (("members", members), ("epochs", epochs), ("batch", batch)):
        if value < 1:
            raise TrainingError(f"{name}={value} must be >= 1")
    points = to_points(data)
    val = to_points(val_data) if val_data else None
    if executor is not None and executor.is_ray:
        from drxlab.training.ray_members import train_members_ray

        common = {"epochs": epochs, "batch": batch, "lr": lr, "seed": seed, "model_args": model_args}
        kw = {"members": members, "threads": threads, "progress": progress, **common}
        return Ensemble(train_members_ray(executor, points, val, **kw))
    with torch_threads(threads):
        trained = [
            _train_member(
                k,
                points,
                val,
                members=members,
                epochs=epochs,
                batch=batch,
                lr=lr,
                seed=seed,
                model_args=model_args,
                progress=progress,
            )
            for k in range(members)
        ]
    return Ensemble(trained)


def _train_member(
    k: int,
    points: PointSet,
    val: PointSet | None,
    *,
    members: int,
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
    model_args: Mapping[str, Any] | None,
    progress: Progress | None,
) -> DRXNet:
    """Member ``k`` of :func:`train_ensemble`, seeded with ``seed * 1000 + k``."""
    torch.manual_seed(seed * 1000 + k)
    model = DRXNet(**dict(model_args or {}))
    gen = torch.Generator().manual_seed(seed * 1000 + k)
    info = {"member": k + 1, "members": members, "total": members * epochs}
    return fit_member(
        model, points, epochs=epochs, batch=batch, lr=lr, generator=gen, val=val, progress=progress, info=info
    )
