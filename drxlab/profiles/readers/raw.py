"""The one value every cycler reader returns: a run of points in drxlab's units.

Readers differ in what the instrument stores (a current, or only charge increments; a capacity
that resets per step or per cycle; separate charge and discharge columns). Each reader resolves
that once, so everything downstream sees time (s), voltage (V), signed current (mA, discharge
negative) and the signed charge passed since the previous point (mAh).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drxlab.exceptions import ImportFileError


@dataclass(frozen=True)
class RawRun:
    """One cell's measured points, already in s / V / mA / mAh.

    Attributes:
        time: ``(n,)`` time since the start of the run, s.
        voltage: ``(n,)`` cell voltage, V.
        current: ``(n,)`` current, mA; discharge (reduction of the working electrode) is negative.
        dq: ``(n,)`` charge passed since the previous point, mAh; negative on discharge.
        step: ``(n,)`` the instrument's step label (int) or None when the file has none.
        cycle: ``(n,)`` the instrument's cycle number or None.
        fmt: the detected format (e.g. ``biologic-mpr``); reader: the library or parser used.
        metadata: header facts (``active_mass_g``, instrument, dates, charge cut-off ...).
        units: what each quantity was read from, e.g. ``{"current": "Current(A) ×1000"}``.
        dropped: human-readable notes on rows left out and why (impedance, unreadable rows).
    """

    time: np.ndarray
    voltage: np.ndarray
    current: np.ndarray
    dq: np.ndarray
    step: np.ndarray | None
    cycle: np.ndarray | None
    fmt: str
    reader: str
    metadata: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    dropped: tuple[str, ...] = ()
    columns: dict = field(default_factory=dict)  # further per-point columns, e.g. specific_discharge_mAh_g

    def __post_init__(self) -> None:
        n = self.time.size
        for name in ("voltage", "current", "dq"):
            if getattr(self, name).size != n:
                raise ValueError(f"{name} has {getattr(self, name).size} points, time has {n}")

    @property
    def rows(self) -> int:
        return int(self.time.size)


def increments(capacity: np.ndarray) -> np.ndarray:
    """Per-point increments of a capacity counter that only grows and may reset to 0 (per step/cycle).

    A drop marks a reset; the point after it has counted from 0, so its increment is its own value.
    """
    c = np.nan_to_num(np.asarray(capacity, dtype=float))
    d = np.diff(c, prepend=c[:1])
    reset = d < 0
    d[reset] = np.maximum(c[reset], 0.0)
    return d


def from_current(time: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Charge increments (mAh) from current (mA) and time (s), left-rectangle rule."""
    dt = np.diff(time, prepend=time[:1])
    return current * np.clip(dt, 0.0, None) / 3600.0


def build(
    time: np.ndarray,
    voltage: np.ndarray,
    current: np.ndarray,
    dq: np.ndarray | None,
    *,
    step: np.ndarray | None,
    cycle: np.ndarray | None,
    fmt: str,
    reader: str,
    where: str,
    metadata: dict | None = None,
    units: dict | None = None,
    dropped: list[str] | None = None,
    columns: dict | None = None,
) -> RawRun:
    """Drop rows without time/voltage/current, check there is data left, and wrap it."""
    t, v, i = (np.asarray(x, dtype=float) for x in (time, voltage, current))
    notes = list(dropped or [])
    ok = np.isfinite(t) & np.isfinite(v) & np.isfinite(i)
    if not ok.any():
        raise ImportFileError(f"{where}: no row has a time, voltage and current value")
    if (~ok).sum():
        notes.append(f"{int((~ok).sum())} row(s) without time/voltage/current")
    t, v, i = t[ok], v[ok], i[ok]
    q = from_current(t, i) if dq is None else np.nan_to_num(np.asarray(dq, dtype=float)[ok])
    if t.size > 1 and np.nanmin(np.diff(t)) < -1.0:
        notes.append("time runs backwards in places (kept; capacity comes from the instrument's counters)")
    extra = {k: np.asarray(a, dtype=float)[ok] for k, a in (columns or {}).items()}
    lab = lambda a: None if a is None else np.nan_to_num(np.asarray(a, dtype=float)[ok], nan=-1).astype(int)
    return RawRun(
        time=t - t[0],
        voltage=v,
        current=i,
        dq=q,
        step=lab(step),
        cycle=lab(cycle),
        fmt=fmt,
        reader=reader,
        metadata=dict(metadata or {}),
        units=dict(units or {}),
        dropped=tuple(notes),
        columns=extra,
    )
