"""BioLogic EC-Lab files: binary ``.mpr`` (via datalab-org-galvani) and ``.mpt`` text exports.

GCPL files store no ``I/mA`` column: the charge increment ``dq/mA.h`` is the measured quantity,
so current is dq/dt and capacity is the sum of dq (the rule yadg and navani follow too).
Impedance rows (``freq/Hz`` > 0, PEIS/GEIS blocks inside a Modulo Bat run) are dropped.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from drxlab.exceptions import ImportFileError
from drxlab.profiles.readers.raw import RawRun, build

MASS_KEYS = ("Mass of active material", "Characteristic mass")
_MASS_UNITS = {"g": 1.0, "mg": 1e-3, "µg": 1e-6, "ug": 1e-6, "kg": 1e3}


def _number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return None


def header_metadata(lines: list[str]) -> dict:
    """Facts from an EC-Lab header (.mpt header or .mpl log): active mass (g), version, limits."""
    meta: dict = {}
    for line in lines:
        key, sep, value = line.partition(" : ")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key in MASS_KEYS and "active_mass_g" not in meta:
            m = re.match(r"([-+0-9.,eE]+)\s*(\S+)", value)
            if m and _number(m.group(1)) and m.group(2) in _MASS_UNITS:
                meta["active_mass_g"] = _number(m.group(1)) * _MASS_UNITS[m.group(2)]
                meta["active_mass_source"] = f"the EC-Lab header's '{key}'"
        elif key.startswith("EC-LAB") or key in (
            "Acquisition started on",
            "Electrode material",
            "Electrolyte",
            "Battery capacity",
            "Electrode surface area",
        ):
            meta[key] = value
    return meta


def _run(cols: dict[str, np.ndarray], *, fmt: str, reader: str, where: str, meta: dict) -> RawRun:
    t = cols.get("time/s")
    v = cols.get("Ewe/V", cols.get("Ecell/V"))
    if t is None or v is None:
        raise ImportFileError(f"{where}: no 'time/s' or 'Ewe/V' column; columns seen: {sorted(cols)}")
    keep = np.ones(t.size, bool)
    dropped = []
    if "freq/Hz" in cols:
        imp = np.nan_to_num(cols["freq/Hz"]) > 0
        if imp.any():
            dropped.append(f"{int(imp.sum())} impedance row(s) (freq/Hz > 0)")
        keep &= ~imp
    c = {k: np.asarray(a, dtype=float)[keep] for k, a in cols.items()}
    t, v = c["time/s"], c.get("Ewe/V", c.get("Ecell/V"))
    units = {"time": "time/s", "voltage": "Ewe/V" if "Ewe/V" in c else "Ecell/V"}
    if "dq/mA.h" in c:
        dq = c["dq/mA.h"]
        units["capacity"] = "dq/mA.h (sum)"
    elif "(Q-Qo)/mA.h" in c:
        dq = np.diff(c["(Q-Qo)/mA.h"], prepend=c["(Q-Qo)/mA.h"][:1])
        units["capacity"] = "(Q-Qo)/mA.h (differences)"
    else:
        dq = None
    cur_col = next((k for k in ("I/mA", "<I>/mA") if k in c), None)
    if cur_col:
        i = c[cur_col]
        units["current"] = cur_col
    elif dq is not None:
        dt = np.diff(t, prepend=t[:1])
        with np.errstate(divide="ignore", invalid="ignore"):
            i = np.where(dt > 0, dq * 3600.0 / dt, 0.0)
        units["current"] = "dq/dt (the file stores no current)"
    else:
        raise ImportFileError(
            f"{where}: neither a current ('I/mA') nor a charge ('dq/mA.h') column; "
            f"columns seen: {sorted(cols)}"
        )
    cycle = c.get("cycle number")
    if cycle is None and "half cycle" in c:
        cycle = c["half cycle"] // 2  # EC-Lab's cycle number counts pairs of half cycles from 0
    return build(
        t,
        v,
        i,
        dq,
        step=c.get("Ns"),
        cycle=cycle,
        fmt=fmt,
        reader=reader,
        where=where,
        metadata=meta,
        units=units,
        dropped=dropped,
    )


def read_mpr(path: Path) -> RawRun:
    """An EC-Lab .mpr through datalab-org-galvani; a sibling .mpl log supplies the active mass."""
    try:
        from galvani import BioLogic
    except ImportError:
        raise ImportFileError(
            f"{path}: reading BioLogic .mpr files needs the optional galvani reader (GPL-3+); "
            "install it with: pip install 'drxlab[biologic]'"
        ) from None
    import warnings

    try:
        # the file is ours to close: galvani leaves a path it opened open when it refuses the file
        with warnings.catch_warnings(record=True) as caught, open(path, "rb") as fh:
            warnings.simplefilter("always")
            mpr = BioLogic.MPRfile(fh)
            data = mpr.data
    except Exception as exc:
        detail = " ".join(str(exc).split())[:120] or "truncated or damaged"
        raise ImportFileError(
            f"{path}: not a readable EC-Lab .mpr file, truncated or damaged ({type(exc).__name__}: {detail})"
        ) from None
    if len(data) == 0:
        raise ImportFileError(f"{path}: the .mpr file holds no data points")
    cols = {name: np.asarray(data[name], dtype=float) for name in data.dtype.names if name != "flags"}
    meta = {"instrument": "BioLogic"}
    if getattr(mpr, "timestamp", None) is not None:
        meta["start"] = str(mpr.timestamp)
    for w in caught:
        if issubclass(w.category, ResourceWarning):
            continue  # galvani leaves its file handle to the garbage collector
        meta.setdefault("reader_warnings", []).append(str(w.message)[:200])
    mpl = path.with_suffix(".mpl")
    if mpl.exists():
        meta.update(header_metadata(mpl.read_text(encoding="latin-1").splitlines()))
        meta["metadata_file"] = mpl.name
    return _run(cols, fmt="biologic-mpr", reader="datalab-org-galvani", where=str(path), meta=meta)


def read_mpt(path: Path) -> RawRun:
    """An EC-Lab .mpt text export: LF or CRLF, point or comma decimals, latin-1 header."""
    import pandas as pd

    text = path.read_bytes().decode("latin-1")
    lines = text.splitlines()
    if not lines or not lines[0].startswith("EC-Lab ASCII FILE"):
        raise ImportFileError(f"{path}: first line is not 'EC-Lab ASCII FILE'; not an EC-Lab text export")
    m = re.match(r"Nb header lines\s*:\s*(\d+)", lines[1] if len(lines) > 1 else "")
    if not m:
        raise ImportFileError(f"{path}: row 2: expected 'Nb header lines : N'")
    n_head = int(m.group(1))
    if len(lines) < n_head:
        raise ImportFileError(f"{path}: the header says {n_head} lines but the file has only {len(lines)}")
    header = [h.strip() for h in lines[n_head - 1].split("\t")]
    body = "\n".join(lines[n_head:])
    # German-locale exports write 1,234 for 1.234 and never use a comma as the field separator
    decimal = "," if re.search(r"\d,\d", body) and not re.search(r"\d\.\d", body) else "."
    try:
        df = pd.read_csv(
            io.StringIO(body),
            sep="\t",
            header=None,
            decimal=decimal,
            engine="c",
            usecols=range(len([h for h in header if h])),
            on_bad_lines="error",
        )
    except Exception as exc:
        raise ImportFileError(
            f"{path}: data rows do not parse as tab-separated numbers ({str(exc)[:120]})"
        ) from None
    names = [h for h in header if h]
    cols = {
        name: pd.to_numeric(df.iloc[:, k], errors="coerce").to_numpy(float) for k, name in enumerate(names)
    }
    meta = {"instrument": "BioLogic", **header_metadata(lines[:n_head])}
    meta["decimal"] = decimal
    return _run(cols, fmt="biologic-mpt", reader="drxlab mpt parser (pandas)", where=str(path), meta=meta)
