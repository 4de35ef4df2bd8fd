"""Raw cycler exports (CSV/TSV): time, voltage, current, optional capacity and cycle columns.

Column names are matched case-insensitively, ignoring spaces, underscores and brackets,
against this alias table (unit in the name decides the scale):

============  =====================================================================
quantity      accepted column names
============  =====================================================================
time          time, time(s), test_time(s), elapsed_time, t/s  (seconds; time(h)/time_h hours)
voltage       voltage, voltage(v), ewe/v, ecell/v, potential(v), u(v)
current       current(a), i(a), current(ma), i/ma, current(ma/g) (specific)
capacity      capacity(mah), capacity(ah), q_discharge(mah), discharge_capacity(ah),
              capacity(mah/g), specific_capacity(mah/g)
cycle         cycle, cycle_index, cycle_number, cycle_no
============  =====================================================================

Discharge segments are runs of negative current (sign convention of Arbin, Maccor, Neware,
BioLogic exports). Capacity comes from the capacity column when present (relative to the
segment's start), otherwise from integrating |I| dt. Absolute capacities (mAh, Ah) and
currents (A, mA) are normalised to mAh/g and mA/g with ``--active-mass`` (g).
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drxlab.exceptions import ImportFileError, ProfileError
from drxlab.profiles.importers.base import (
    ParsedProfile,
    ParsedTest,
    check_conditions,
    check_profile,
    resolve_composition,
    wrap_profile_error,
)
from drxlab.profiles.process import process_segment

# normalised name -> (quantity, scale to base unit: s, V, mA, mAh; "/g" suffix = specific)
ALIASES: dict[str, tuple[str, float, bool]] = {}
for names, quantity, scale, specific in [
    (("time", "times", "testtimes", "testtime", "elapsedtime", "elapsedtimes", "ts", "timesec"), "time", 1.0, False),
    (("timeh", "testtimeh"), "time", 3600.0, False),
    (("voltage", "voltagev", "ewev", "ecellv", "potential", "potentialv", "uv", "vv"), "voltage", 1.0, False),
    (("currenta", "ia", "current"), "current", 1000.0, False),
    (("currentma", "ima"), "current", 1.0, False),
    (("currentmag", "imag"), "current", 1.0, True),
    (("capacitymah", "qdischargemah", "dischargecapacitymah", "capacity", "qmah"), "capacity", 1.0, False),
    (("capacityah", "dischargecapacityah", "qdischargeah", "qah"), "capacity", 1000.0, False),
    (("capacitymahg", "specificcapacitymahg", "dischargecapacitymahg", "qmahg"), "capacity", 1.0, True),
    (("cycle", "cycleindex", "cyclenumber", "cycleno"), "cycle", 1.0, False),
]:
    for n in names:
        ALIASES[n] = (quantity, scale, specific)


def _norm(name: str) -> str:
    return re.sub(r"[\s_()\[\]/.\-]", "", name.strip().lower())


@dataclass(frozen=True)
class Columns:
    """Which file column holds each quantity, with its scale to s / V / mA / mAh."""

    index: dict[str, int]
    scale: dict[str, float]
    specific: dict[str, bool]


def map_columns(header: list[str], path: Path) -> Columns:
    """Match a header against :data:`ALIASES`; time, voltage and current are required."""
    index, scale, specific = {}, {}, {}
    for i, name in enumerate(header):
        hit = ALIASES.get(_norm(name))
        if hit and hit[0] not in index:
            index[hit[0]], scale[hit[0]], specific[hit[0]] = i, hit[1], hit[2]
    missing = [q for q in ("time", "voltage", "current") if q not in index]
    if missing:
        raise ImportFileError(
            f"{path}: row 1 (header): no column for {', '.join(missing)} among {header}; "
            "expected e.g. time(s), voltage(V), current(mA) — see `drxlab import --help` for accepted names"
        )
    return Columns(index, scale, specific)


def sniff(path: Path) -> bool:
    """True if the header maps onto time / voltage / current columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            head = fh.readline()
        delim = "\t" if head.count("\t") > head.count(",") else ","
        map_columns(next(csv.reader([head], delimiter=delim)), path)
        return True
    except Exception:
        return False


def _table(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ImportFileError(f"{path}: file is empty; expected a header with time, voltage and current columns")
    first = lines[0]
    delim = "\t" if first.count("\t") > first.count(",") else ("," if "," in first else ";")
    rows = list(csv.reader(lines, delimiter=delim))
    header = rows[0]
    if len(rows) < 2:
        raise ImportFileError(f"{path}: only a header, no data rows")
    data = np.empty((len(rows) - 1, len(header)))
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ImportFileError(f"{path}: row {r} has {len(row)} fields, the header has {len(header)}; "
                                  "the row is truncated or the delimiter is inconsistent")
        for c, cell in enumerate(row):
            try:
                data[r - 2, c] = float(cell) if cell.strip() else np.nan
            except ValueError:
                data[r - 2, c] = np.nan  # text columns (step names, dates) are not used
    return header, data


def _cell(path: Path, row: int, col: int) -> str:
    """The raw text of one cell (row 0 = header), for error messages."""
    text = path.read_text(encoding="utf-8-sig")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    first = lines[0]
    delim = "\t" if first.count("\t") > first.count(",") else ("," if "," in first else ";")
    cells = next(csv.reader([lines[row]], delimiter=delim))
    return cells[col] if col < len(cells) else ""


def _segments(current: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges of consecutive negative-current (discharge) rows."""
    neg = np.concatenate([[False], current < 0, [False]])
    edges = np.flatnonzero(np.diff(neg.astype(int)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def read(path: Path, *, composition: str | None, active_mass: float | None, rate: float | None = None,
         window: tuple[float, float] | None = None, allow_unbalanced: bool = False,
         instrument: str = "") -> list[ParsedTest]:
    """Parse a raw cycler export into one test; each discharge segment becomes a cycle."""
    where = str(path)
    if not composition:
        raise ImportFileError(f"{where}: a cycler file has no composition; pass --composition (e.g. Li1.2Mn0.4Ti0.4O2)")
    formula, amts, states = resolve_composition(composition, f"{where}: --composition", allow_unbalanced=allow_unbalanced)
    if active_mass is not None and not (math.isfinite(active_mass) and active_mass > 0):
        raise ImportFileError(f"--active-mass is {active_mass} g; expected a positive mass in g")
    header, data = _table(path)
    cols = map_columns(header, path)
    col = lambda q: data[:, cols.index[q]] * cols.scale[q]  # noqa: E731
    t, v, i = col("time"), col("voltage"), col("current")
    mass_needed = not cols.specific["current"] or ("capacity" in cols.index and not cols.specific["capacity"])
    if mass_needed and active_mass is None:
        unit = header[cols.index["capacity"]] if "capacity" in cols.index else header[cols.index["current"]]
        raise ImportFileError(f"{where}: column '{unit}' is absolute (not per gram); pass --active-mass in g "
                              "to normalise to mAh/g")
    bad = ~np.isfinite(t) | ~np.isfinite(v) | ~np.isfinite(i)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        q = next(q for q, arr in (("time", t), ("voltage", v), ("current", i)) if not np.isfinite(arr[r]))
        raise ImportFileError(f"{where}: row {r + 2}, field {header[cols.index[q]]!r} ({q}) is "
                              f"{_cell(path, r + 1, cols.index[q])!r}; expected a number"
                              + (" of seconds (export the time as seconds, not hh:mm:ss)" if q == "time" else ""))
    segs = [s for s in _segments(i) if s[1] - s[0] >= 2]
    if not segs:
        raise ImportFileError(f"{where}: no discharge segment (rows with negative current) found")
    mass_g = active_mass or 1.0
    profiles, currents, cycles_seen = [], [], set()
    for k, (a, b) in enumerate(segs, start=1):
        swhere = f"{where}: rows {a + 2}–{b + 1}"
        if "capacity" in cols.index:
            q = np.abs(col("capacity")[a:b] - col("capacity")[a])
            q = q if cols.specific["capacity"] else q / mass_g
        else:
            dt_h = np.diff(t[a:b], prepend=t[a]) / 3600.0
            q = np.cumsum(np.abs(i[a:b]) * dt_h) / (1.0 if cols.specific["current"] else mass_g)
        cycle = int(data[a, cols.index["cycle"]]) if "cycle" in cols.index and np.isfinite(data[a, cols.index["cycle"]]) else k
        if cycle in cycles_seen:
            cycle = max(cycles_seen) + 1
        cycles_seen.add(cycle)
        try:
            prof = process_segment(v[a:b], q)
        except ProfileError as exc:
            raise wrap_profile_error(exc, swhere) from None
        profiles.append((cycle, prof, v[a:b], q, swhere))
        currents.append(np.median(np.abs(i[a:b])) / (1.0 if cols.specific["current"] else mass_g))
    # What the file's protocol shows: the charge cut-off the cell reached (the discharge itself starts
    # below it, after the IR drop) and the lowest raw discharge voltage; a smoothed profile is not used.
    shown = {"rate_mA_g": float(f"{np.median(currents):.3g}"),  # 3 digits: 0.02 mA/g must not become 0
             "discharge_min_V": round(float(min(p[2].min() for p in profiles)), 3),
             "discharge_start_V": round(float(max(p[2][0] for p in profiles)), 3),
             "charge_max_V": round(float(v[i > 0].max()), 3) if (i > 0).any() else None}
    rate_ = float(rate) if rate is not None else shown["rate_mA_g"]
    inferred_high = max(shown["charge_max_V"] or 0.0, shown["discharge_start_V"])
    v_low, v_high = window if window else (round(shown["discharge_min_V"], 2), round(inferred_high, 2))
    check_conditions(rate_, v_low, v_high, where)
    parsed = []
    for cycle, prof, rv, rq, swhere in profiles:
        check_profile(prof, v_low, v_high, f"{swhere} (cycle {cycle})")
        parsed.append(ParsedProfile(cycle=cycle, profile=prof, raw_voltage=rv, raw_capacity=rq))
    return [ParsedTest(source=where, formula=formula, amounts=amts, oxidation_states=states, rate=rate_,
                       v_low=v_low, v_high=v_high, profiles=tuple(parsed), active_mass=active_mass,
                       instrument=instrument, label=path.stem,
                       extra={"file_shows": shown, "window_given": window is not None, "rate_given": rate is not None})]
