"""The DRXNet point CSV: one row per (test, cycle, voltage point), already standardised.

Columns: ``material_id,composition,V_low,V_high,rate,cycle,Vii,Q0ii,Qii,dQdVii`` (Q in mAh/g,
dQdV in mAh/g/V, rate in mA/g, V in V). Rows of the same material, window and rate form one
test; each cycle is one profile.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
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
from drxlab.profiles.process import from_standardised

COLUMNS = ("material_id", "composition", "V_low", "V_high", "rate", "cycle", "Vii", "Qii", "dQdVii")
NUMERIC = ("V_low", "V_high", "rate", "Vii", "Qii", "dQdVii")


def sniff(path: Path) -> bool:
    """True if the file's header has the DRXNet point-CSV columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            head = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return all(c in head for c in ("Vii", "Qii", "composition"))


def _header(reader: csv.DictReader, path: Path) -> None:
    fields = reader.fieldnames or []
    if not fields:
        raise ImportFileError(f"{path}: file is empty; expected a header with columns {','.join(COLUMNS)}")
    missing = [c for c in COLUMNS if c not in fields]
    if missing:
        hint = ""
        if len(fields) == 1 and any(d in fields[0] for d in (";", "\t", "|")):
            hint = " (the file looks delimited by something other than commas)"
        raise ImportFileError(
            f"{path}: row 1 (header): missing column(s) {', '.join(missing)}{hint}; "
            f"expected comma-separated columns {','.join(COLUMNS)}"
        )


def _number(row: dict, field: str, where: str) -> float:
    raw = row.get(field)
    if raw is None or str(raw).strip() == "":
        raise ImportFileError(
            f"{where}: field '{field}' is empty (the row may be truncated); expected a number"
        )
    try:
        value = float(raw)
    except ValueError:
        raise ImportFileError(f"{where}: field '{field}' is {raw!r}; expected a number") from None
    if not math.isfinite(value):
        raise ImportFileError(f"{where}: field '{field}' is {raw!r}; expected a finite number")
    return value


def read(path: Path, *, allow_unbalanced: bool = False) -> list[ParsedTest]:
    """Parse a DRXNet point CSV into tests (one per material, window and rate)."""
    groups: dict[tuple, dict[int, list[tuple[float, float, float]]]] = defaultdict(lambda: defaultdict(list))
    first_row: dict[tuple, int] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            _header(reader, path)
            for lineno, row in enumerate(reader, start=2):
                where = f"{path}: row {lineno}"
                if None in row or any(v is None for v in row.values()):
                    raise ImportFileError(
                        f"{where}: has {len(row) - (None in row)} fields where the header has "
                        f"{len(reader.fieldnames)}; the row is truncated or has extra fields"
                    )
                vals = {f: _number(row, f, where) for f in NUMERIC}
                try:
                    cycle = int(float(row["cycle"]))
                except (ValueError, OverflowError):  # 'abc', 'nan' / 'inf'
                    raise ImportFileError(
                        f"{where}: field 'cycle' is {row['cycle']!r}; expected an integer ≥ 1"
                    ) from None
                if cycle < 1:
                    raise ImportFileError(f"{where}: field 'cycle' is {cycle}; expected an integer ≥ 1")
                if vals["Qii"] < 0:
                    raise ImportFileError(
                        f"{where}: field 'Qii' is {vals['Qii']} mAh/g; expected capacity ≥ 0"
                    )
                key = (
                    row["material_id"].strip(),
                    row["composition"].strip(),
                    vals["V_low"],
                    vals["V_high"],
                    vals["rate"],
                )
                first_row.setdefault(key, lineno)
                groups[key][cycle].append((vals["Vii"], vals["Qii"], vals["dQdVii"]))
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    if not groups:
        raise ImportFileError(f"{path}: no data rows after the header; expected one row per voltage point")
    tests = []
    for key, cycles in groups.items():
        material_id, comp, v_low, v_high, rate = key
        where = f"{path}: row {first_row[key]}"
        formula, amts, states = resolve_composition(comp, where, allow_unbalanced=allow_unbalanced)
        check_conditions(rate, v_low, v_high, where)
        profiles = []
        for cycle in sorted(cycles):
            pts = np.array(cycles[cycle])
            cwhere = f"{where} (material {material_id}, cycle {cycle})"
            try:
                prof = from_standardised(pts[:, 0], pts[:, 1], pts[:, 2])
            except ProfileError as exc:
                raise wrap_profile_error(exc, cwhere) from None
            check_profile(prof, v_low, v_high, cwhere)
            profiles.append(ParsedProfile(cycle=cycle, profile=prof))
        tests.append(
            ParsedTest(
                source=where,
                formula=formula,
                amounts=amts,
                oxidation_states=states,
                rate=rate,
                v_low=v_low,
                v_high=v_high,
                profiles=tuple(profiles),
                label=material_id,
            )
        )
    return tests
