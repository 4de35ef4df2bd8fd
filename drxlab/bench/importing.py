"""Import throughput of cycler files: the vendor library alone against drxlab's full path.

For one file, in one run, times (best of ``repeat``):

- ``library``: the vendor reader only (fastnda / galvani / mdb-export / a pandas read of the text),
  the floor any importer built on it pays;
- ``read``: drxlab's reader (library plus unit, sign and capacity normalisation -> RawRun);
- ``segment``: cutting discharges;
- ``profiles``: spline, 100 points and dQ/dV for every counted cycle;
- ``full``: read + segment + profiles + checks, i.e. what `drxlab import` does before the store.

Figures are rows/s and the ratio full/library.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from drxlab.profiles.importers.cycler import Analysis, analyse, to_test
from drxlab.profiles.readers import detect, read_raw
from drxlab.profiles.segments import segment


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _library(path: Path) -> Callable[[], object]:
    """The vendor library call drxlab's reader is built on, for this file's format."""
    fmt = detect(path)
    if fmt in ("neware-nda", "neware-ndax"):
        import fastnda

        return lambda: fastnda.read(str(path), cycle_mode="raw")
    if fmt == "biologic-mpr":
        from galvani import BioLogic

        return lambda: BioLogic.MPRfile(str(path)).data
    if fmt == "arbin-res":
        import subprocess

        return lambda: subprocess.run(
            ["mdb-export", str(path), "Channel_Normal_Table"], capture_output=True, check=True
        )
    import pandas as pd

    return lambda: pd.read_csv(path, sep=None, engine="python", encoding="latin-1", on_bad_lines="skip")


def bench_import(path: Path, *, composition: str, active_mass: float | None, repeat: int = 3) -> dict:
    """Seconds and rows/s of each stage for one cycler file (see the module docstring)."""
    run = read_raw(path)
    rows = run.rows
    t_lib = _best(_library(path), repeat)
    t_read = _best(lambda: read_raw(path), repeat)
    t_seg = _best(lambda: segment(run), repeat)
    a = analyse(path, active_mass=active_mass)
    t_prof = _best(
        lambda: to_test(
            Analysis(a.path, a.run, a.segmentation, a.mass_g, a.mass_source), composition=composition
        ),
        repeat,
    )
    t_full = _best(lambda: to_test(analyse(path, active_mass=active_mass), composition=composition), repeat)
    return {
        "file": path.name,
        "format": run.fmt,
        "rows": rows,
        "cycles": len(a.segmentation.counted),
        "library_s": round(t_lib, 4),
        "read_s": round(t_read, 4),
        "segment_s": round(t_seg, 4),
        "profiles_s": round(t_prof, 4),
        "full_s": round(t_full, 4),
        "library_rows_per_s": round(rows / t_lib),
        "full_rows_per_s": round(rows / t_full),
        "full_over_library": round(t_full / t_lib, 2),
    }
