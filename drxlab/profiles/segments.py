"""Cut a raw cycler run into discharge segments a chemist would call cycles.

Rules (each borrowed where named):
- a discharge is a run of points with negative current; points of zero current inside one
  instrument step (the tail of a CV hold) do not split it, so CC and CV parts stay together;
- rests and charges separate discharges; impedance rows were dropped by the reader;
- a discharge that follows another discharge with no charge between and sweeps less than
  ``MIN_SPAN`` volts is a tail (a lower-rate finishing step, GITT/DCIR pulses), reported and
  not counted -- navani counts every sign change as a half cycle. Blips of < 3 points are
  ignored. No share-of-the-largest rule: a cell that fades to a tenth keeps all its cycles;
- a discharge before the first charge that gives less than ``PARTIAL_FRACTION`` of the next
  discharge started from OCV on a cell assembled charged-ish; it is reported, not counted as
  cycle 1 (``keep_initial`` keeps it). A first discharge at least that large (anode half-cells,
  lithiation first) is cycle 1.
- a discharge that stops more than ``DEPTH_TOLERANCE`` above the lowest voltage the run's
  discharges reach is a partial one (HPPC/SOC steps, a run cut short) and is reported only;
- drxlab numbers cycles itself (the n-th counted discharge); the instrument's number is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drxlab.profiles.readers.raw import RawRun

MIN_FRACTION = 0.001  # of the largest discharge capacity: smaller ones are noise
MIN_SPAN = 0.05  # V a discharge must sweep; shorter ones are pulses (as process.py needs anyway)
DEPTH_TOLERANCE = 0.1  # V above the run's lowest discharge voltage that still counts as a full discharge
PARTIAL_FRACTION = 0.5  # leading discharge below this share of the next one is from OCV
CURRENT_TOLERANCE = 1e-4  # of the 99th-percentile |I|: below it a point is at rest


@dataclass(frozen=True)
class Segment:
    """One discharge: rows [start, stop) of the run, with capacity counted from its start.

    Attributes:
        cycle: drxlab's cycle number (1 = first counted discharge); 0 for an uncounted one.
        instrument_cycle: the file's own cycle number at the segment start (None if absent).
        kind: ``full``, ``initial`` (partial discharge from OCV), ``partial`` (stops short of the
            run's lowest discharge voltage), ``tail`` (a small discharge step right after a
            discharge) or ``pulse`` (a blip).
        voltage: ``(m,)`` V; capacity: ``(m,)`` discharged charge, mAh, from 0 upwards.
        current: median |I| over the segment, mA.
    """

    start: int
    stop: int
    cycle: int
    instrument_cycle: int | None
    kind: str
    voltage: np.ndarray
    capacity: np.ndarray
    current: float

    @property
    def q_mAh(self) -> float:
        return float(self.capacity[-1]) if self.capacity.size else 0.0

    def as_dict(self, mass_g: float | None = None) -> dict:
        d = {
            "cycle": self.cycle,
            "instrument_cycle": self.instrument_cycle,
            "kind": self.kind,
            "rows": [self.start, self.stop],
            "points": self.stop - self.start,
            "V_min": round(float(self.voltage.min()), 4),
            "V_max": round(float(self.voltage.max()), 4),
            "Q_mAh": round(self.q_mAh, 6),
            "I_mA": round(self.current, 6),
        }
        if mass_g:
            d["Q_mAh_g"] = round(self.q_mAh / mass_g, 3)
        return d


@dataclass(frozen=True)
class Segmentation:
    """All discharges of a run and the charges seen, with notes on what was not counted."""

    segments: tuple[Segment, ...]
    charges: int
    charge_cutoff: float | None  # V, highest voltage reached on charge (the protocol's upper limit)
    notes: tuple[str, ...]

    @property
    def counted(self) -> list[Segment]:
        return [s for s in self.segments if s.cycle > 0]


def _runs(sign: np.ndarray, value: int, step: np.ndarray | None) -> list[tuple[int, int]]:
    """[start, stop) runs where ``sign == value``, bridging zero-sign gaps inside one step."""
    hit = np.concatenate([[False], sign == value, [False]])
    edges = np.flatnonzero(np.diff(hit.astype(int)))
    runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged:
            pa, pb = merged[-1]
            gap = sign[pb:a]
            same_step = step is not None and step[pb - 1] == step[a]
            if np.all(gap == 0) and (same_step or (step is None and a - pb <= 2)):
                merged[-1] = (pa, b)
                continue
        merged.append((a, b))
    return merged


def segment(run: RawRun, *, keep_initial: bool = False) -> Segmentation:
    """Discharge segments of a run; see the module docstring for the rules."""
    i = run.current
    scale = float(np.percentile(np.abs(i), 99)) if i.size else 0.0
    tol = max(scale * CURRENT_TOLERANCE, 1e-12)
    sign = np.where(i < -tol, -1, np.where(i > tol, 1, 0))
    dis = _runs(sign, -1, run.step)
    chg = _runs(sign, 1, run.step)
    caps = [float(np.cumsum(-run.dq[a:b])[-1]) for a, b in dis]
    chg_caps = [float(np.sum(run.dq[a:b])) for a, b in chg]
    notes: list[str] = []
    big = max(caps, default=0.0)
    big_chg = max(chg_caps, default=0.0)
    real_chg = [r for r, q in zip(chg, chg_caps) if q > MIN_FRACTION * big_chg and r[1] - r[0] >= 3]
    first_charge = real_chg[0][0] if real_chg else run.rows
    chg_starts = np.array([r[0] for r in real_chg], dtype=int)
    segs: list[Segment] = []
    pulses = tails = 0
    kinds: list[str] = []
    prev_stop = -1  # end of the last discharge that was not a pulse
    for (a, b), q in zip(dis, caps):
        span = float(np.ptp(run.voltage[a:b])) if b > a else 0.0
        charged_since = prev_stop < 0 or bool(np.any((chg_starts >= prev_stop) & (chg_starts < a)))
        if q <= MIN_FRACTION * big or b - a < 3:
            pulses += 1
            kinds.append("pulse")
            continue
        if span < MIN_SPAN and not charged_since:
            tails += 1
            kinds.append("tail")
        else:
            kinds.append("full")
        prev_stop = b
    floor = min((float(run.voltage[a:b].min()) for (a, b), k in zip(dis, kinds) if k == "full"), default=0.0)
    shallow = 0
    for k, (a, b) in enumerate(dis):
        if kinds[k] == "full" and float(run.voltage[a:b].min()) > floor + DEPTH_TOLERANCE:
            kinds[k] = "partial"
            shallow += 1
    if shallow:
        notes.append(
            f"{shallow} partial discharge(s) stopping > {DEPTH_TOLERANCE} V above the lowest discharge "
            f"voltage ({floor:.3f} V) were not counted as cycles"
        )
    full_idx = [k for k, kind in enumerate(kinds) if kind == "full"]
    if full_idx and dis[full_idx[0]][1] <= first_charge and len(full_idx) > 1:
        k0, k1 = full_idx[0], full_idx[1]
        if caps[k0] < PARTIAL_FRACTION * caps[k1]:
            kinds[k0] = "initial"
            notes.append(
                f"a partial discharge from OCV before the first charge ({caps[k0]:.4g} mAh, rows "
                f"{dis[k0][0]}–{dis[k0][1]}) "
                + ("kept as cycle 1 (as asked)" if keep_initial else "is not counted as cycle 1")
            )
    if pulses:
        notes.append(
            f"{pulses} discharge blip(s) of < 3 points or ≤ {MIN_FRACTION:.1%} of the largest discharge "
            "were not counted as cycles"
        )
    if tails:
        notes.append(
            f"{tails} discharge step(s) after a discharge with no charge between, sweeping < {MIN_SPAN} V "
            "(lower-rate tails, GITT/DCIR pulses) were not counted as cycles"
        )
    n = 0
    for (a, b), kind in zip(dis, kinds):
        counted = kind == "full" or (kind == "initial" and keep_initial)
        n += counted
        q = np.cumsum(-run.dq[a:b])
        segs.append(
            Segment(
                start=a,
                stop=b,
                cycle=n if counted else 0,
                instrument_cycle=None if run.cycle is None else int(run.cycle[a]),
                kind=kind,
                voltage=run.voltage[a:b],
                capacity=q,
                current=float(np.median(np.abs(i[a:b]))),
            )
        )
    cutoff = max((float(run.voltage[a:b].max()) for a, b in real_chg), default=None)
    return Segmentation(segments=tuple(segs), charges=len(real_chg), charge_cutoff=cutoff, notes=tuple(notes))
