"""Logging results, optionally fine-tuning on them, under the one rule for the write lock.

Without a fine-tune, results are checked and written in one transaction. With one, as for
``train`` and ``finetune``, the long step holds no write lock: the results are read and checked
and the ensemble fine-tuned on them (not yet written) in a read-only session; then one short
write re-checks what was read (every sample still in the state it was checked in, the parent
model still current) and writes the tests and the new model version together — or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session

from drxlab.progress import Progress
from drxlab.store import queries
from drxlab.workflow import results, training

if TYPE_CHECKING:
    from drxlab.store.db import Store


@dataclass(frozen=True)
class LogOutcome:
    logged: list[results.Logged]
    finetuned: training.TrainResult | None = None  # None: no fine-tune asked for, or nothing tested


Prepare = Callable[[Session], Sequence[results.PendingLog]]
Write = Callable[[Session, Sequence[results.PendingLog]], list[results.Logged]]


def write_each(session: Session, pending: Sequence[results.PendingLog]) -> list[results.Logged]:
    return [results.write_pending(session, p) for p in pending]


def pending_scope(session: Session, pending: results.PendingLog) -> str:
    """Which current model a result updates: its campaign's own, else the lab-wide one."""
    if pending.sample_id is not None:
        return results.model_scope(session, pending.sample_id)
    return pending.campaign if pending.campaign in queries.current_scopes(session) else ""


def log_results(
    store: Store,
    prepare: Prepare,
    *,
    write: Write = write_each,
    finetune: bool = False,
    seed: int = 0,
    include_virtual: bool = False,
    progress: Progress | None = None,
    epochs: int = training.FINETUNE_EPOCHS,
) -> LogOutcome:
    """Check the results ``prepare`` reads, fine-tune on the measured ones if asked, write all.

    The fine-tune uses :func:`training.fit_finetune`'s defaults but ``epochs``; virtual-lab tests
    are left out unless ``include_virtual``.
    """
    if not finetune:
        with store.transaction() as s:
            return LogOutcome(write(s, prepare(s)))
    with store.reader() as s:
        pending = list(prepare(s))
        measured = [p for p in pending if p.test is not None]
        fitted, scope = None, ""
        if measured:
            scope = pending_scope(s, pending[0])
            fitted = training.fit_finetune(
                s,
                scope=scope,
                epochs=epochs,
                seed=seed,
                include_virtual=include_virtual,
                pending=[p.record(-(k + 1)) for k, p in enumerate(measured)],
                retired_samples={p.sample_id for p in pending if p.replace and p.sample_id is not None},
                progress=progress,
            )
    with store.transaction() as s:
        logged = write(s, pending)
        if fitted is None:
            return LogOutcome(logged)
        new_ids = [x.test_id for x in logged if x.test_id is not None]
        ids = {-(k + 1): test_id for k, test_id in enumerate(new_ids)}
        return LogOutcome(logged, training.commit(s, fitted, scope, pending_ids=ids))
