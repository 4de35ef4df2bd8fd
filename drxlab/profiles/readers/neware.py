"""Neware BTS binaries (``.nda``, ``.ndax``) through fastnda (BSD-3).

fastnda reads nda versions 8, 22, 26 and 130 and every ndax seen here; NewareNDA and navani raise
NotImplementedError on version 8. Its ``capacity_mAh`` is signed (negative on discharge) and
resets per step, so the increments are taken per step; its ``total_time_s`` stays monotone where
the unix time of some files jumps backwards.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from drxlab.exceptions import ImportFileError
from drxlab.profiles.readers.raw import RawRun, build, increments


def _find_mass(meta: object) -> float | None:
    """Active mass (g) from fastnda metadata: flat ``active_mass_mg`` (nda) or a nested 'mass' entry."""
    if isinstance(meta, dict):
        for key, value in meta.items():
            k = str(key).lower()
            if k == "active_mass_mg":
                try:
                    return float(value) * 1e-3 if float(value) > 0 else None
                except (TypeError, ValueError):
                    return None
            if "activemass" in k.replace("_", "") and isinstance(value, dict) and "Value" in value:
                try:
                    return float(value["Value"]) * 1e-3 if float(value["Value"]) > 0 else None
                except (TypeError, ValueError):
                    return None
            found = _find_mass(value) if isinstance(value, dict) else None
            if found:
                return found
    return None


def read(path: Path) -> RawRun:
    """Points of a Neware .nda/.ndax file in s / V / mA / mAh."""
    try:
        import fastnda
    except ImportError:
        raise ImportFileError(
            f"{path}: reading Neware files needs fastnda; install it with: pip install 'drxlab[neware]'"
        ) from None
    notes = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = fastnda.read(str(path), cycle_mode="raw")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                meta_raw = fastnda.read_metadata(str(path))
        except Exception:
            meta_raw = {}
    except Exception as exc:
        detail = " ".join(str(exc).split())[:120] or "truncated or damaged"
        raise ImportFileError(
            f"{path}: not a readable Neware {path.suffix} file, truncated or damaged "
            f"({type(exc).__name__}: {detail})"
        ) from None
    notes += [f"fastnda: {str(w.message)[:160]}" for w in caught]
    if df.height == 0:
        raise ImportFileError(f"{path}: the Neware file holds no data points")
    meta_raw = meta_raw if isinstance(meta_raw, dict) else {}
    # BTS 9 (nda 130) ends the file with a footer that counts the points: its absence means a cut file
    expected = meta_raw.get("num_datapoints")
    if (expected is not None and int(expected) != df.height) or (
        path.suffix.lower() == ".nda" and int(meta_raw.get("nda_version", 0) or 0) >= 130 and expected is None
    ):
        raise ImportFileError(
            f"{path}: truncated Neware file: {df.height} points read but "
            + (f"its footer counts {expected}" if expected else "its closing footer is missing")
            + "; copy the file again from the cycler PC"
        )
    col = lambda name: df[name].to_numpy().astype(float)
    t, v, i = col("total_time_s"), col("voltage_V"), col("current_mA")
    cap = np.abs(col("capacity_mAh"))
    step = col("step_count") if "step_count" in df.columns else None
    # capacity resets at each step; a new step that starts above 0 must not count its first value twice
    dq = increments(cap) * np.sign(i)
    meta = {"instrument": "Neware"}
    mass = _find_mass(meta_raw)
    if mass:
        meta["active_mass_g"] = mass
        meta["active_mass_source"] = "the Neware file's metadata"
    for key in ("nda_version", "bts_version", "start_time", "remarks"):
        if isinstance(meta_raw, dict) and key in meta_raw:
            meta[key] = str(meta_raw[key])
    dropped = [n for n in notes if "negative" in n.lower() or "jump" in n.lower()]
    return build(
        t,
        v,
        i,
        dq,
        step=step,
        cycle=col("cycle_count"),
        fmt="neware-" + path.suffix.lower().lstrip("."),
        reader=f"fastnda {getattr(fastnda, '__version__', '')}".strip(),
        where=str(path),
        metadata=meta,
        units={
            "time": "total_time_s",
            "voltage": "voltage_V",
            "current": "current_mA",
            "capacity": "capacity_mAh (per step)",
        },
        dropped=dropped,
    )
