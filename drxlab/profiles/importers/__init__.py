"""Importers for the data a DRX lab already has; each returns :class:`ParsedTest` objects.

Formats: ``drxnet-csv`` (DRXNet point CSV), ``drx-td-json`` (DRX-TD per-test JSON),
``cycler-csv`` (raw cycler export). ``auto`` picks by content.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from drxlab.exceptions import ImportFileError
from drxlab.profiles.importers import cycler_csv, drx_td_json, drxnet_csv
from drxlab.profiles.importers.base import ParsedProfile, ParsedTest, sha256_file

FORMATS = ("auto", "drxnet-csv", "drx-td-json", "cycler-csv")
SUFFIXES = (".csv", ".tsv", ".txt", ".json")


@dataclass(frozen=True)
class CyclerOptions:
    """What a raw cycler file does not say about itself."""

    composition: str | None = None
    active_mass: float | None = None  # g
    rate: float | None = None  # mA/g
    window: tuple[float, float] | None = None  # V
    instrument: str = ""


@dataclass(frozen=True)
class ParsedFile:
    """A file read by an importer, identified by its content hash."""

    path: Path
    sha256: str
    format: str
    tests: list[ParsedTest] = field(default_factory=list)


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly plus data files (by suffix) found under named directories, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES))
        elif p.exists():
            out.append(p)
        else:
            raise ImportFileError(f"{p}: no such file or directory")
    return out


def detect(path: Path) -> str:
    """Format of a file by content; raises when no importer recognises it."""
    if path.stat().st_size == 0:
        raise ImportFileError(f"{path}: file is empty; expected a DRXNet CSV, DRX-TD JSON or cycler export")
    for name, mod in (("drx-td-json", drx_td_json), ("drxnet-csv", drxnet_csv), ("cycler-csv", cycler_csv)):
        if mod.sniff(path):
            return name
    raise ImportFileError(f"{path}: format not recognised; expected a DRXNet point CSV (columns "
                          f"{','.join(drxnet_csv.COLUMNS)}), a DRX-TD JSON or a cycler CSV/TSV with time, "
                          "voltage and current columns (or pass --format)")


def read_file(path: Path, fmt: str = "auto", *, allow_unbalanced: bool = False,
              cycler: CyclerOptions = CyclerOptions()) -> ParsedFile:
    """Read one file with the named (or detected) importer."""
    if fmt not in FORMATS:
        raise ImportFileError(f"format {fmt!r} unknown; expected one of {', '.join(FORMATS)}")
    if path.stat().st_size == 0:
        raise ImportFileError(f"{path}: file is empty")
    fmt = detect(path) if fmt == "auto" else fmt
    if fmt == "drxnet-csv":
        tests = drxnet_csv.read(path, allow_unbalanced=allow_unbalanced)
    elif fmt == "drx-td-json":
        tests = drx_td_json.read(path, allow_unbalanced=allow_unbalanced)
    else:
        tests = cycler_csv.read(path, composition=cycler.composition, active_mass=cycler.active_mass,
                                rate=cycler.rate, window=cycler.window, allow_unbalanced=allow_unbalanced,
                                instrument=cycler.instrument)
    return ParsedFile(path=path, sha256=sha256_file(path), format=fmt, tests=tests)


def read_files(paths: list[Path], fmt: str = "auto", *, allow_unbalanced: bool = False,
               cycler: CyclerOptions = CyclerOptions(), keep_going: bool = False,
               on_file: Callable[[Path], None] | None = None) -> tuple[list[ParsedFile], list[str]]:
    """Read every file; the first error aborts unless ``keep_going`` (then it is reported)."""
    parsed, skipped = [], []
    for path in paths:
        try:
            parsed.append(read_file(path, fmt, allow_unbalanced=allow_unbalanced, cycler=cycler))
        except ImportFileError as exc:
            if not keep_going:
                raise
            skipped.append(str(exc))
        if on_file:
            on_file(path)
    return parsed, skipped


__all__ = ["FORMATS", "CyclerOptions", "ParsedFile", "ParsedProfile", "ParsedTest", "expand", "read_file", "read_files"]
