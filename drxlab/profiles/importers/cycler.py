"""Raw cycler files (BioLogic, Neware, Arbin, Maccor, Landt, generic CSV) into one ParsedTest.

One path for ``import``, ``log`` and ``inspect``: :func:`analyse` reads the file
(:mod:`drxlab.profiles.readers`), cuts discharge segments (:mod:`drxlab.profiles.segments`) and
resolves the active mass; :func:`to_test` turns the counted discharges into DRXNet-standard
profiles (spline, 100 points, dQ/dV; :mod:`drxlab.profiles.process`) in mAh/g.
"""

from __future__ import annotations

import math
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
from drxlab.profiles.readers import RawRun, read_raw
from drxlab.profiles.segments import Segmentation, segment

MASS_TOLERANCE = 0.01  # relative: a given mass and the file's own may differ by this much


@dataclass(frozen=True)
class Analysis:
    """What drxlab made of a cycler file before anything is written."""

    path: Path
    run: RawRun
    segmentation: Segmentation
    mass_g: float | None  # active mass used for mAh/g
    mass_source: str  # "the given mass", the file's header, or ""

    def as_dict(self) -> dict:
        r, s = self.run, self.segmentation
        return {
            "file": str(self.path),
            "format": r.fmt,
            "reader": r.reader,
            "rows": r.rows,
            "units": r.units,
            "metadata": {k: v for k, v in r.metadata.items() if isinstance(v, (str, int, float, list))},
            "active_mass_g": self.mass_g,
            "active_mass_source": self.mass_source,
            "charge_segments": s.charges,
            "charge_cutoff_V": s.charge_cutoff,
            "segments": [g.as_dict(self.mass_g) for g in s.segments],
            "cycles": len(s.counted),
            "dropped": list(r.dropped),
            "notes": list(s.notes),
        }


def resolve_mass(given: float | None, run: RawRun, where: str) -> tuple[float | None, str]:
    """Active mass (g) as given or from the file; both given and > 1 % apart is an error."""
    if given is not None and not (math.isfinite(given) and given > 0):
        raise ImportFileError(f"the given active mass is {given} g; expected a positive mass in g")
    own = run.metadata.get("active_mass_g")
    src = run.metadata.get("active_mass_source", "the file's header")
    if given is not None and own:
        if abs(given - own) > MASS_TOLERANCE * own:
            raise ImportFileError(
                f"{where}: the given active mass {given:g} g contradicts {src} ({own:g} g), more than "
                f"{MASS_TOLERANCE:.0%} apart; check which is right and give that one"
            )
        return given, "the given mass (agrees with the file)"
    if given is not None:
        return given, "the given mass"
    if own:
        return float(own), src
    return None, ""


def _implied_mass(run: RawRun, seg: Segmentation) -> float | None:
    """Mass (g) implied by the file's own specific discharge capacity column (Neware exports)."""
    spec = run.columns.get("specific_discharge_mAh_g")
    if spec is None:
        return None
    ratios = [
        s.q_mAh / float(np.nanmax(spec[s.start : s.stop]))
        for s in seg.counted
        if np.nanmax(spec[s.start : s.stop]) > 0
    ]
    return float(np.median(ratios)) if ratios else None  # mAh / (mAh/g) = g


def analyse(path: Path, *, active_mass: float | None = None, keep_initial: bool = False) -> Analysis:
    """Read, segment and resolve the mass of one cycler file (nothing is required of the file yet)."""
    run = read_raw(path)
    seg = segment(run, keep_initial=keep_initial)
    implied = _implied_mass(run, seg)
    if implied and "active_mass_g" not in run.metadata:
        run.metadata["active_mass_g"] = implied
        run.metadata["active_mass_source"] = (
            f"the mass implied by the file's {run.metadata.get('specific_discharge_column')} column"
        )
    mass, src = resolve_mass(active_mass, run, str(path))
    if implied and mass and abs(implied - mass) > MASS_TOLERANCE * mass:
        raise ImportFileError(
            f"{path}: the file's own {run.metadata.get('specific_discharge_column')} implies an "
            f"active mass of {implied * 1000:.4g} mg, not the {mass * 1000:.4g} mg from {src}"
        )
    return Analysis(path=path, run=run, segmentation=seg, mass_g=mass, mass_source=src)


def refusal(a: Analysis) -> str | None:
    """Why a run has no cycle to import, in a chemist's words (None when it has)."""
    s = a.segmentation
    if s.counted:
        return None
    kinds = [g.kind for g in s.segments]
    if not kinds and s.charges:
        return f"no discharge segment: charge only ({s.charges} charge segment(s), no negative current)"
    if not kinds:
        return "no discharge segment: the run holds only rest (zero current) points"
    return (
        f"no discharge segment: only {len(kinds)} discharge pulse(s)/partial discharge(s) "
        f"({', '.join(sorted(set(kinds)))}) that sweep too little voltage to be a cycle"
    )


def to_test(
    a: Analysis,
    *,
    composition: str | None,
    rate: float | None = None,
    window: tuple[float, float] | None = None,
    allow_unbalanced: bool = False,
    instrument: str = "",
) -> ParsedTest:
    """The counted discharges of an analysed file as one test with mAh/g profiles."""
    where = str(a.path)
    why = refusal(a)
    if why:
        raise ImportFileError(f"{where}: {why}; see `drxlab inspect {a.path.name}`")
    if not composition:
        raise ImportFileError(
            f"{where}: a cycler file has no composition",
            option="composition",
            option_use="(e.g. Li1.2Mn0.4Ti0.4O2)",
        )
    formula, amts, states = resolve_composition(
        composition, f"{where}: the given composition", allow_unbalanced=allow_unbalanced
    )
    if a.mass_g is None:
        raise ImportFileError(
            f"{where}: capacities are absolute (mAh) and the file states no active mass",
            option="active_mass",
            option_use="in g to normalise to mAh/g",
        )
    mass_mg = a.mass_g * 1000.0
    built, skipped, first_error = [], [], None
    for s in a.segmentation.counted:
        swhere = f"{where}: rows {s.start + 1}–{s.stop} (cycle {s.cycle})"
        try:
            prof = process_segment(s.voltage, s.capacity / a.mass_g)
        except ProfileError as exc:
            # one unusable cycle (a few points logged before a stop) must not cost the lab the whole
            # run: it is left out and named; the file is refused only if no cycle is usable
            first_error = first_error or wrap_profile_error(exc, swhere)
            skipped.append(f"cycle {s.cycle} (rows {s.start + 1}–{s.stop}) left out: {exc}")
            continue
        built.append((s, prof, swhere))
    if not built:
        raise first_error
    # What the file's protocol shows: the charge cut-off the cell reached (the discharge itself starts
    # below it, after the IR drop) and the lowest raw discharge voltage; the smoothed profile is not used.
    # mA / mg = A/g; ×1000 gives mA/g; 3 significant digits, so 0.02 mA/g does not become 0
    shown = {
        "rate_mA_g": float(f"{np.median([s.current for s, _, _ in built]) / mass_mg * 1000.0:.3g}"),
        "discharge_min_V": round(float(min(s.voltage.min() for s, _, _ in built)), 3),
        "discharge_start_V": round(float(max(s.voltage[0] for s, _, _ in built)), 3),
        "charge_max_V": (
            round(float(a.segmentation.charge_cutoff), 3)
            if a.segmentation.charge_cutoff is not None
            else None
        ),
    }
    rate_ = float(rate) if rate is not None else shown["rate_mA_g"]
    inferred_high = max(shown["charge_max_V"] or 0.0, shown["discharge_start_V"])
    v_low, v_high = window if window else (round(shown["discharge_min_V"], 2), round(inferred_high, 2))
    check_conditions(rate_, v_low, v_high, where)
    parsed = []
    for s, prof, swhere in built:
        check_profile(prof, v_low, v_high, swhere)
        parsed.append(
            ParsedProfile(
                cycle=s.cycle, profile=prof, raw_voltage=s.voltage, raw_capacity=s.capacity / a.mass_g
            )
        )
    run, seg = a.run, a.segmentation
    extra = {
        "format": run.fmt,
        "reader": run.reader,
        "charge_cutoff_V": seg.charge_cutoff,
        "instrument_cycles": {s.cycle: s.instrument_cycle for s in seg.counted},
        "notes": list(seg.notes) + list(run.dropped) + skipped,
        "active_mass_source": a.mass_source,
        "file_shows": shown,
        "window_given": window is not None,
        "rate_given": rate is not None,
    }
    return ParsedTest(
        source=where,
        formula=formula,
        amounts=amts,
        oxidation_states=states,
        rate=rate_,
        v_low=v_low,
        v_high=v_high,
        profiles=tuple(parsed),
        active_mass=a.mass_g,
        instrument=instrument or str(run.metadata.get("instrument", "")),
        label=a.path.stem,
        extra=extra,
    )


def read(
    path: Path,
    *,
    composition: str | None,
    active_mass: float | None,
    rate: float | None = None,
    window: tuple[float, float] | None = None,
    allow_unbalanced: bool = False,
    instrument: str = "",
    keep_initial: bool = False,
) -> list[ParsedTest]:
    """Parse a raw cycler file into one test; each counted discharge becomes a cycle."""
    a = analyse(path, active_mass=active_mass, keep_initial=keep_initial)
    return [
        to_test(
            a,
            composition=composition,
            rate=rate,
            window=window,
            allow_unbalanced=allow_unbalanced,
            instrument=instrument,
        )
    ]
