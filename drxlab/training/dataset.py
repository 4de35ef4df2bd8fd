"""Training data: discharge tests -> voltage points, batched so each graph is built once per batch.

A :class:`~drxlab.profiles.records.TestRecord` is one galvanostatic test (one composition, rate
and window) with its standardised discharge profiles, one per cycle. :func:`to_points` flattens tests into a
:class:`PointSet`: one row per (test, cycle, voltage point) with targets Q, dQ/dV and Q1 (the
cycle-1 capacity of the same test at the same V, interpolated; masked when the test has no
cycle 1). :meth:`PointSet.batch` gathers rows and builds the composition graph of only the
distinct compositions among them.

Example:
    >>> v = np.linspace(1.5, 4.8, 100); q = 250 * (4.8 - v) / 3.3
    >>> t = TestRecord("Li1.2Mn0.4Ti0.4O2", 20.0, 1.5, 4.8, {1: (v, q, np.full(100, -75.8))})
    >>> to_points([t]).n
    100
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from drxlab.chem.compositions import amounts
from drxlab.chem.graph import GraphBatch, build_graph
from drxlab.exceptions import ProfileError
from drxlab.profiles.records import CycleProfile, TestRecord


@dataclass(frozen=True)
class PointBatch:
    """A batch of ``B`` points over the graphs of its ``C`` distinct compositions.

    Attributes:
        graph: composition graphs of the batch's compositions.
        comp: ``B`` row of ``graph`` per point.
        rate, cycle, voltage: ``B`` inputs (mA/g, cycle number, V).
        window: ``B x 2`` ``[V_low, V_high]``, V.
        q, dqdv, q1: ``B`` targets (mAh/g, mAh/g/V, mAh/g).
        q1_mask: ``B`` bool, False where the test has no cycle 1.
    """

    graph: GraphBatch
    comp: torch.Tensor
    rate: torch.Tensor
    cycle: torch.Tensor
    window: torch.Tensor
    voltage: torch.Tensor
    q: torch.Tensor
    dqdv: torch.Tensor
    q1: torch.Tensor
    q1_mask: torch.Tensor


@dataclass(frozen=True)
class PointSet:
    """All points of a list of tests: per-point ``N`` tensors plus the distinct compositions.

    Attributes:
        compositions: distinct amount dicts (cations sum to 2).
        comp: ``N`` index into ``compositions``.
        rate, cycle, v_low, v_high, voltage, q, dqdv, q1: ``N`` float32 tensors.
        q1_mask: ``N`` bool.
        test: ``N`` index of the test each point comes from.
    """

    compositions: tuple[dict[str, float], ...]
    comp: torch.Tensor
    rate: torch.Tensor
    cycle: torch.Tensor
    v_low: torch.Tensor
    v_high: torch.Tensor
    voltage: torch.Tensor
    q: torch.Tensor
    dqdv: torch.Tensor
    q1: torch.Tensor
    q1_mask: torch.Tensor
    test: torch.Tensor

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.q.shape[0])

    def batch(self, idx: torch.Tensor) -> PointBatch:
        """Gather points ``idx`` (``B``); the graph holds only their distinct compositions."""
        uniq, comp = torch.unique(self.comp[idx], return_inverse=True)
        return PointBatch(
            graph=build_graph([self.compositions[i] for i in uniq.tolist()]),
            comp=comp,
            rate=self.rate[idx],
            cycle=self.cycle[idx],
            window=torch.stack([self.v_low[idx], self.v_high[idx]], 1),
            voltage=self.voltage[idx],
            q=self.q[idx],
            dqdv=self.dqdv[idx],
            q1=self.q1[idx],
            q1_mask=self.q1_mask[idx],
        )


def _check_profile(t: TestRecord, cycle: int, prof: CycleProfile) -> CycleProfile:
    v, q, dq = (np.asarray(a, dtype=np.float64) for a in prof)
    if not (v.ndim == 1 and v.shape == q.shape == dq.shape and len(v) >= 2):
        raise ProfileError(
            f"{t.formula} at {t.rate:g} mA/g, cycle {cycle}: V, Q, dQ/dV must be equal-length 1-D arrays"
        )
    if not (np.diff(v) > 0).all():
        raise ProfileError(f"{t.formula} at {t.rate:g} mA/g, cycle {cycle}: V must be strictly ascending")
    if not (np.isfinite(v).all() and np.isfinite(q).all() and np.isfinite(dq).all()):
        raise ProfileError(f"{t.formula} at {t.rate:g} mA/g, cycle {cycle}: profile has non-finite values")
    return v, q, dq


def to_points(data: Sequence[TestRecord]) -> PointSet:
    """Flatten tests into a :class:`PointSet` (Q1 target interpolated from each test's cycle 1)."""
    keys: dict[tuple[tuple[str, float], ...], int] = {}
    names = ("comp", "rate", "cycle", "v_low", "v_high", "v", "q", "dq", "q1", "m", "t")
    cols: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for ti, t in enumerate(data):
        amts = amounts(t.formula)
        ci = keys.setdefault(tuple(amts.items()), len(keys))
        first = _check_profile(t, 1, t.profiles[1]) if 1 in t.profiles else None
        for cycle, prof in sorted(t.profiles.items()):
            v, q, dq = _check_profile(t, cycle, prof)
            n = len(v)
            q1 = np.interp(v, first[0], first[1]) if first is not None else np.zeros(n)
            for key, val in (
                ("comp", ci),
                ("rate", t.rate),
                ("cycle", cycle),
                ("v_low", t.v_low),
                ("v_high", t.v_high),
                ("m", first is not None),
                ("t", ti),
            ):
                cols[key].append(np.full(n, val))
            cols["v"].append(v), cols["q"].append(q), cols["dq"].append(dq), cols["q1"].append(q1)
    if not cols["q"]:
        raise ProfileError("no discharge profiles to train on")
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    f32 = {
        k: torch.as_tensor(cat[k], dtype=torch.float32)
        for k in ("rate", "cycle", "v_low", "v_high", "v", "q", "dq", "q1")
    }
    return PointSet(
        compositions=tuple(dict(k) for k in keys),
        comp=torch.as_tensor(cat["comp"], dtype=torch.long),
        rate=f32["rate"],
        cycle=f32["cycle"],
        v_low=f32["v_low"],
        v_high=f32["v_high"],
        voltage=f32["v"],
        q=f32["q"],
        dqdv=f32["dq"],
        q1=f32["q1"],
        q1_mask=torch.as_tensor(cat["m"], dtype=torch.bool),
        test=torch.as_tensor(cat["t"], dtype=torch.long),
    )
