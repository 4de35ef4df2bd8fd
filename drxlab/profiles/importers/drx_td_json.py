"""The public DRX-TD dataset's per-test JSON.

Keys: ``composition`` (element → amount), ``test_current(mA/g)``, ``low_voltage(V)``,
``high_voltage(V)``, ``discharge_list`` (per cycle ``cycle_num``, ``V_std``, ``Q_std``,
``Q0_std``, ``dQdV_std``); optional ``active_mass(g)`` and ``electrode_mass(g)``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from drxlab.exceptions import ImportFileError, ProfileError
from drxlab.profiles.importers.base import (
    ParsedProfile,
    ParsedTest,
    check_conditions,
    check_profile,
    resolve_composition,
    wrap_profile_error,
)
from drxlab.profiles.process import from_standardised

REQUIRED = ("composition", "test_current(mA/g)", "low_voltage(V)", "high_voltage(V)", "discharge_list")
CYCLE_KEYS = ("cycle_num", "V_std", "Q_std", "dQdV_std")


def sniff(path: Path) -> bool:
    """True if the file looks like a DRX-TD test JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return head.lstrip().startswith("{") and ("discharge_list" in head or "test_current" in head)


def _finite(value: float) -> bool:
    """math.isfinite that also says False for integers too large for a float (JSON allows them)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _float(doc: dict, key: str, where: str, *, optional: bool = False) -> float | None:
    value = doc.get(key)
    if value is None and optional:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ImportFileError(f"{where}: field '{key}' is {value!r}; expected a number") from None
    if not math.isfinite(out) or (optional and out <= 0):
        raise ImportFileError(
            f"{where}: field '{key}' is {value!r}; expected a finite{' positive' if optional else ''} number"
        )
    return out


def read(path: Path, *, allow_unbalanced: bool = False) -> list[ParsedTest]:
    """Parse one DRX-TD JSON file into a single test."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{where}: not a UTF-8 text file ({exc.reason})") from None
    if not text.strip():
        raise ImportFileError(
            f"{where}: file is empty; expected a DRX-TD JSON object with keys {', '.join(REQUIRED)}"
        )
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"{where}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
            "the file may be truncated"
        ) from None
    if not isinstance(doc, dict):
        raise ImportFileError(f"{where}: top level is {type(doc).__name__}; expected a JSON object")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise ImportFileError(f"{where}: missing key(s) {', '.join(missing)}; expected {', '.join(REQUIRED)}")
    comp = doc["composition"]
    if not isinstance(comp, (dict, str)):
        raise ImportFileError(f"{where}: field 'composition' is {comp!r}; expected element → amount")
    if isinstance(comp, dict):
        bad = {k: v for k, v in comp.items() if not isinstance(v, (int, float)) or not _finite(v) or v < 0}
        if bad:
            raise ImportFileError(
                f"{where}: field 'composition' has invalid amounts {bad}; expected numbers ≥ 0"
            )
        comp = "".join(f"{el}{amt}" for el, amt in comp.items() if amt > 0)
    formula, amts, states = resolve_composition(comp, where, allow_unbalanced=allow_unbalanced)
    rate = _float(doc, "test_current(mA/g)", where)
    v_low = _float(doc, "low_voltage(V)", where)
    v_high = _float(doc, "high_voltage(V)", where)
    check_conditions(rate, v_low, v_high, where)
    cycles = doc["discharge_list"]
    if not isinstance(cycles, list) or not cycles:
        raise ImportFileError(f"{where}: field 'discharge_list' is empty; expected a list of cycles")
    profiles, seen = [], set()
    for i, cyc in enumerate(cycles):
        cwhere = f"{where}: discharge_list[{i}]"
        if not isinstance(cyc, dict) or any(k not in cyc for k in CYCLE_KEYS):
            raise ImportFileError(f"{cwhere}: expected an object with keys {', '.join(CYCLE_KEYS)}")
        try:
            cycle = int(cyc["cycle_num"])
        except (TypeError, ValueError, OverflowError):
            raise ImportFileError(
                f"{cwhere}: field 'cycle_num' is {cyc['cycle_num']!r}; expected an integer ≥ 1"
            ) from None
        if cycle < 1 or cycle in seen:
            raise ImportFileError(f"{cwhere}: field 'cycle_num' is {cycle}; expected a unique integer ≥ 1")
        seen.add(cycle)
        try:
            prof = from_standardised(cyc["V_std"], cyc["Q_std"], cyc["dQdV_std"])
        except (ProfileError, TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, ProfileError):
                raise wrap_profile_error(exc, cwhere) from None
            raise ImportFileError(
                f"{cwhere}: V_std/Q_std/dQdV_std must be lists of numbers ({exc})"
            ) from None
        check_profile(prof, v_low, v_high, cwhere)
        profiles.append(ParsedProfile(cycle=cycle, profile=prof))
    profiles.sort(key=lambda p: p.cycle)
    return [
        ParsedTest(
            source=where,
            formula=formula,
            amounts=amts,
            oxidation_states=states,
            rate=rate,
            v_low=v_low,
            v_high=v_high,
            profiles=tuple(profiles),
            active_mass=_float(doc, "active_mass(g)", where, optional=True),
            electrode_mass=_float(doc, "electrode_mass(g)", where, optional=True),
            label=path.stem,
        )
    ]
