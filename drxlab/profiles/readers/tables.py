"""Cycler text and spreadsheet exports: Arbin CSV/XLSX, Maccor, Landt, Neware BTSDA, BDF, batterydata.

One alias table maps a header (case, spaces, brackets and punctuation ignored) to a quantity and
its unit. Vendor quirks handled here, each seen in a real export:

- header after 0-80 lines of ``key: value`` metadata (Maccor, Landt, SINTEF), latin-1 bytes in it
  (Maccor 0xFF: utf-8 decoding fails in navani and cellpy);
- tab, comma or semicolon fields; decimal comma when the field separator is not a comma;
- Neware's three-level export: cycle, step and record rows interleaved, the record header being
  the one whose leading empty cells match the record rows (cellpy's ``neware_txt`` loader skips
  the same way);
- units from the header (A/mA, Ah/mAh, V/mV, s/min/h); a header without unit uses the vendor's
  default (Arbin: A, Ah, s); a "voltage" whose values exceed 20 is mV (Maccor ``Volts`` in mV);
- unsigned current with a C/D/R state column (Maccor ``Md``/``State``, Neware ``Step Type``, Landt
  ``step_name``): the state gives the sign (beep's maccor parser does the same);
- elapsed times as ``hh:mm:ss`` or ``1d 02:03:04.5``; a time column with no unit is calibrated
  against the file's date-time column (Maccor ``TestTime`` is minutes in some exports);
- impedance rows (a frequency > 0, a cycle label "EIS") are dropped.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drxlab.exceptions import ImportFileError
from drxlab.profiles.readers.raw import RawRun, build, increments


def norm(name: str) -> str:
    """Header key: lower case, without spaces, brackets and punctuation ('Current (A)' -> 'currenta')."""
    return re.sub(r"[\s_()\[\]/.\-:#?']", "", str(name).strip().lower())


# normalised header -> (quantity, scale to s / V / mA / mAh). scale None: decide from values/vendor
ALIASES: dict[str, tuple[str, float | None]] = {}
_TABLE = [
    (
        "time",
        1.0,
        (
            "times testtimes testtimesecond testtimesec timesec ts elapsedtimes testsec "
            "totaltimes teststimes testtime1s"
        ),
    ),
    ("time", None, "testtime elapsedtime totaltime cumulativetime"),
    ("time", 60.0, "testtimemin timemin"),
    ("time", 3600.0, "testtimeh timeh testtimehr"),
    ("voltage", 1.0, "voltagev voltagevolt volts ewev ecellv potentialv uv vv cellvoltagev"),
    ("voltage", None, "voltage potential"),
    ("voltage", 1e-3, "voltagemv mv millivolts"),
    ("current", 1000.0, "currenta currentampere amps ia currentamp"),
    ("current", None, "current"),
    ("current", 1.0, "currentma ima mamps milliamps currentmilliampere"),
    ("capacity", 1000.0, "ampherah amphr capah capacityah capah amphours"),
    ("capacity", 1.0, "mamphr capacitymah capmah"),
    ("charge_capacity", 1000.0, "chargecapacityah chgcapah chargingcapacityah"),
    ("charge_capacity", None, "chargecapacity"),
    ("charge_capacity", 1.0, "chargecapacitymah chgcapmah"),
    ("discharge_capacity", 1000.0, "dischargecapacityah dchgcapah dischargingcapacityah"),
    ("discharge_capacity", None, "dischargecapacity"),
    ("discharge_capacity", 1.0, "dischargecapacitymah dchgcapmah"),
    ("specific_discharge", 1.0, "dchgspeccapmahg specificdischargecapacitymahg dischargecapacitymahg"),
    ("state", 1.0, "state md steptype stepname mode"),
    ("cycle", 1.0, "cycleindex cycle cyc cyclec cyclenumber cycleno"),
    ("step", 1.0, "stepindex step stepnumber"),
    ("frequency", 1.0, "frequencyhz freqhz frequency"),
    ("cycle_label", 1.0, "cyclelabel"),
    ("datetime", 1.0, "datetime dpttime date datetimeisostring"),
    # last: a bare "Time" is the step time in Neware exports, used only without a test/total time
    ("time", None, "time"),
]
RANK: dict[str, int] = {}  # earlier aliases win when a header matches two for one quantity
for _q, _s, _names in _TABLE:
    for _n in _names.split():
        ALIASES.setdefault(_n, (_q, _s))
        RANK.setdefault(_n, len(RANK))
REQUIRED = ("time", "voltage", "current")
# a header without a unit follows its vendor's convention: Arbin's database columns are A, Ah, s
DEFAULT_SCALE = {"current": 1000.0, "charge_capacity": 1000.0, "discharge_capacity": 1000.0}


@dataclass(frozen=True)
class Layout:
    """Where the header is and how fields are written."""

    header_row: int  # 0-based line of the header
    delimiter: str
    decimal: str
    lead: int  # leading empty cells of the header (Neware three-level export)
    columns: dict[str, int]  # quantity -> column index
    names: list[str]


def _map(cells: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    rank: dict[str, int] = {}
    for k, c in enumerate(cells):
        n = norm(c)
        hit = ALIASES.get(n)
        if hit and (hit[0] not in out or RANK[n] < rank[hit[0]]):
            out[hit[0]], rank[hit[0]] = k, RANK[n]
    return out


def find_layout(lines: list[str], where: str, max_header: int = 120) -> Layout:
    """The header line: the first that names voltage and current (and time) columns."""
    best: tuple[int, list[str]] | None = None
    for r, line in enumerate(lines[:max_header]):
        delim = max(("\t", ",", ";"), key=line.count)
        if not line.count(delim):
            continue
        cells = next(csv.reader([line], delimiter=delim))
        cols = _map(cells)
        if all(q in cols for q in REQUIRED):
            lead = len(cells) - len(cells[next(i for i, c in enumerate(cells) if c.strip()) :])
            decimal = "," if delim != "," and _comma_decimals(lines[r + 1 :]) else "."
            return Layout(r, delim, decimal, lead, cols, [c.strip() for c in cells])
        if best is None or len(cols) > len(_map(best[1])):
            best = (r, cells)
    seen = best[1] if best else []
    known = sorted({n for n, (q, _) in ALIASES.items() if q in REQUIRED})
    raise ImportFileError(
        f"{where}: no header row with time, voltage and current columns in the first {max_header} lines; "
        f"columns seen: {[c.strip() for c in seen if c.strip()][:30]}; names understood for "
        "time/voltage/current "
        f"(case, spaces and brackets ignored): {', '.join(known)}"
    )


def _comma_decimals(lines: list[str]) -> bool:
    """Decimal commas: some number has one and none has a point (whole file: early rows may be integers)."""
    body = "\n".join(lines)
    return bool(re.search(r"\d,\d", body)) and not re.search(r"\d\.\d", body)


_DUR = re.compile(r"^\s*(?:(\d+)d\s*)?(\d+):(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*$")


def _to_float(col: list[str], decimal: str) -> np.ndarray:
    import pandas as pd

    s = pd.Series(col, dtype="object").astype(str).str.strip()
    if decimal == ",":
        s = s.str.replace(",", ".", regex=False)
    out = pd.to_numeric(s, errors="coerce").to_numpy(float)
    if np.isnan(out).mean() > 0.5:  # elapsed times written as [Nd ]hh:mm:ss(.f)
        parts = s.str.extract(_DUR)
        if parts.notna().any().any():
            p = parts.astype(float)
            dur = p[0].fillna(0) * 86400 + p[1] * 3600 + p[2] * 60 + p[3]
            out = np.where(np.isnan(out), dur.to_numpy(float), out)
    return out


def _sign_from_state(state: list[str]) -> np.ndarray:
    """+1 charge, -1 discharge, 0 rest/other from C/D/R letters or Neware/Landt step names."""
    out = np.zeros(len(state))
    for k, s in enumerate(state):
        t = str(s).strip().lower()
        if t.startswith(("d", "cc dchg", "cc_dchg")) or "dchg" in t or "discharg" in t:
            out[k] = -1
        elif t.startswith("c") or "chg" in t or "charg" in t:
            out[k] = 1
    return out


def _calibrate_time(t: np.ndarray, stamps: list[str] | None) -> tuple[np.ndarray, str]:
    """A unit-less time column, in s: the scale (s/min/h) that best matches the date-time column."""
    if stamps is None:
        return t, "s (assumed)"
    import pandas as pd

    numeric = pd.to_numeric(pd.Series(stamps), errors="coerce").to_numpy(float)
    if np.isfinite(numeric).mean() > 0.9:
        # Arbin writes unix seconds (CSV) or Excel/OLE day numbers (.res)
        secs = numeric if np.nanmedian(numeric) > 1e8 else numeric * 86400.0
        ok = np.isfinite(secs) & np.isfinite(t)
        idx = np.flatnonzero(ok)
        span = float(secs[idx[-1]] - secs[idx[0]]) if idx.size > 1 else 0.0
    else:
        # only the first and last stamps matter; parsing all of them in "mixed" mode takes seconds
        filled = np.flatnonzero([bool(str(s).strip()) for s in stamps] & np.isfinite(t))
        ends = [int(filled[0]), int(filled[-1])] if filled.size > 1 else []
        dt = pd.to_datetime(
            pd.Series([stamps[k] for k in ends], dtype=object), errors="coerce", format="mixed"
        )
        idx = np.array(ends if ends and dt.notna().all() else [], dtype=int)
        span = (dt.iloc[1] - dt.iloc[0]).total_seconds() if idx.size > 1 else 0.0
    if idx.size < 2:
        return t, "s (assumed)"
    dt_raw = t[idx[-1]] - t[idx[0]]
    if dt_raw <= 0 or span <= 0:
        return t, "s (assumed)"
    scale = min((1.0, 60.0, 3600.0), key=lambda s: abs(np.log(dt_raw * s / span)))
    return t * scale, {1.0: "s", 60.0: "min", 3600.0: "h"}[scale] + " (from the date-time column)"


def read_rows(
    rows: list[list[str]],
    layout: Layout,
    *,
    where: str,
    fmt: str,
    reader: str,
    meta: dict,
    default_scale: dict[str, float] | None = None,
) -> RawRun:
    """Columns of the data rows (strings) into a :class:`RawRun`."""
    data = [
        r
        for r in rows
        if len(r) > layout.lead
        and not any(c.strip() for c in r[: layout.lead])
        and any(c.strip() for c in r[layout.lead :])
    ]
    if layout.lead:
        meta = {**meta, "layout": "multi-level export (record rows only)"}
    if not data:
        raise ImportFileError(f"{where}: a header but no data rows")
    cols = {q: [r[k] if k < len(r) else "" for r in data] for q, k in layout.columns.items()}
    num = {
        q: _to_float(v, layout.decimal)
        for q, v in cols.items()
        if q not in ("state", "cycle_label", "datetime")
    }
    units, dropped = {}, []
    scales = {**DEFAULT_SCALE, **(default_scale or {})}
    name = lambda q: layout.names[layout.columns[q]]
    for q in ("time", "voltage", "current"):
        # an empty cell is a gap the export left; text where a number belongs is a broken file
        garbage = np.flatnonzero(np.isnan(num[q]) & np.array([bool(c.strip()) for c in cols[q]]))
        if garbage.size:
            k = int(garbage[0])
            raise ImportFileError(
                f"{where}: data row {k + 1} (below the header), field {name(q)!r} ({q}) is "
                f"{cols[q][k].strip()!r}; expected a number"
            )
    for q in list(num):
        scale = ALIASES[norm(name(q))][1]
        if scale is None and q == "time":
            num[q], unit = _calibrate_time(num[q], cols.get("datetime"))
            units[q] = f"{name(q)} [{unit}]"
            continue
        if scale is None and q == "voltage":
            scale = 1e-3 if np.nanmedian(np.abs(num[q])) > 20 else 1.0
        if q == "voltage" and scale == 1.0 and np.nanmedian(np.abs(num[q])) > 20:
            scale = 1e-3  # Maccor writes mV under 'Volts' when the channel is set to mV
        if scale is None:
            scale = scales.get(q, 1.0)
        num[q] = num[q] * scale
        if q in ("time", "voltage", "current") or "capacity" in q:
            units[q] = f"{name(q)} ×{scale:g}" if scale != 1 else name(q)
    keep = np.ones(len(data), bool)
    if "frequency" in num:
        imp = np.nan_to_num(num["frequency"]) > 0
        keep &= ~imp
        if imp.any():
            dropped.append(f"{int(imp.sum())} impedance row(s) ({name('frequency')} > 0)")
    if "cycle_label" in cols:
        eis = np.array(["eis" in str(s).lower() or "imped" in str(s).lower() for s in cols["cycle_label"]])
        if (eis & keep).any():
            dropped.append(f"{int((eis & keep).sum())} row(s) labelled impedance ({name('cycle_label')})")
        keep &= ~eis
    i = num["current"]
    sign = None
    if "state" in cols:
        sign = _sign_from_state(cols["state"])
        if np.nanmin(i) >= 0 and (sign < 0).any():
            i = np.abs(i) * sign
            units["current"] += f", sign from {name('state')} (C/D)"
    if "charge_capacity" in num and "discharge_capacity" in num:
        dq = increments(num["charge_capacity"]) - increments(num["discharge_capacity"])
        units["capacity"] = f"{name('charge_capacity')} − {name('discharge_capacity')}"
    elif "capacity" in num:
        dq = increments(np.abs(num["capacity"])) * np.sign(i)
        units["capacity"] = name("capacity") + (
            " ×1000" if ALIASES[norm(name("capacity"))][1] == 1000 else ""
        )
    else:
        dq = None
    if "specific_discharge" in num:
        meta = {**meta, "specific_discharge_column": name("specific_discharge")}
    sel = lambda a: None if a is None else np.asarray(a)[keep]
    extra = (
        {"specific_discharge_mAh_g": sel(num["specific_discharge"])} if "specific_discharge" in num else {}
    )
    return build(
        sel(num["time"]),
        sel(num["voltage"]),
        sel(i),
        sel(dq),
        step=sel(num.get("step")),
        cycle=sel(num.get("cycle")),
        fmt=fmt,
        reader=reader,
        where=where,
        metadata=meta,
        units=units,
        dropped=dropped,
        columns=extra,
    )


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _header_meta(lines: list[str]) -> dict:
    meta: dict = {}
    for line in lines:
        parts = [p.strip() for p in re.split(r"[\t,;]|:\s", line, maxsplit=1) if p is not None]
        parts = [p.strip(" ,;\t:") for p in parts]
        if len(parts) == 2 and parts[0] and parts[1]:
            meta[parts[0][:60]] = parts[1][:200]
    return meta


def sniff_text(head: str) -> str | None:
    """Vendor of a text export from its first lines, or None."""
    if (
        "Today's Date" in head
        or "Today''s Date" in head
        or ("Rec#" in head and "Cyc#" in head)
        or ("\nRec\t" in head and "Md" in head)
    ):
        return "maccor"
    if "DChg. Cap." in head or "Step Type" in head and "Cycle Index" in head:
        return "neware-csv"
    if "test_time_second" in head or "voltage_volt" in head:
        return "bdf-csv"
    if "step_name" in head and "current_A" in head:
        return "landt-csv"
    if "Cycle_Label" in head or "Datenum_d" in head:
        return "batterydata-csv"
    if "Charge_Capacity" in head and "Data_Point" in head:
        return "arbin-csv"
    return None


def read_text(path: Path, fmt: str | None = None) -> RawRun:
    """A delimited text export (any vendor above); the header is found by content."""
    text = _decode(path.read_bytes())
    lines = text.splitlines()
    if not any(ln.strip() for ln in lines):
        raise ImportFileError(
            f"{path}: file is empty; expected a cycler export with time, voltage and current"
        )
    layout = find_layout(lines, str(path))
    fmt = fmt or sniff_text("\n".join(lines[: layout.header_row + 2])) or "cycler-csv"
    body = [ln for ln in lines[layout.header_row + 1 :] if ln.strip()]
    rows = list(csv.reader(io.StringIO("\n".join(body)), delimiter=layout.delimiter))
    meta = _header_meta(lines[: layout.header_row])
    meta.setdefault("instrument", fmt.split("-")[0])
    return read_rows(rows, layout, where=str(path), fmt=fmt, reader="drxlab table parser", meta=meta)


def read_xlsx(path: Path) -> RawRun:
    """An Arbin (or other) Excel export: every sheet with a cycler header, concatenated in order."""
    try:
        import openpyxl
    except ImportError:
        raise ImportFileError(f"{path}: reading .xlsx needs openpyxl; pip install 'drxlab[excel]'") from None
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ImportFileError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    rows_all: list[list[str]] = []
    layout = None
    meta: dict = {}
    seen: list[str] = []
    for ws in wb.worksheets:
        rows = [["" if c is None else str(c) for c in r] for r in ws.iter_rows(values_only=True)]
        if not rows:
            continue
        try:
            lay = find_layout(["\t".join(r) for r in rows[:40]], str(path))
        except ImportFileError:
            seen.extend(c for r in rows[:1] for c in r if c)
            if ws.title.lower().startswith(("global", "info")) and len(rows) >= 2:
                meta.update({k: v for k, v in zip(rows[0], rows[1]) if k and v})
            continue
        if layout is None:
            layout = lay
        if [n.strip() for n in rows[lay.header_row]] != layout.names:
            continue
        rows_all.extend(rows[lay.header_row + 1 :])
    wb.close()
    if layout is None:
        find_layout(["\t".join(seen)], str(path))  # raises with the columns seen
    meta["instrument"] = (
        "Arbin"
        if any("arbin" in str(v).lower() or "channel" in k.lower() for k, v in meta.items())
        else meta.get("instrument", "")
    )
    return read_rows(
        rows_all, layout, where=str(path), fmt="xlsx", reader="openpyxl + drxlab table parser", meta=meta
    )
