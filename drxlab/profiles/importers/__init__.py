"""Importers for the data a DRX lab already has; each returns :class:`ParsedTest` objects.

Formats: ``drxnet-csv`` (DRXNet point CSV), ``drx-td-json`` (DRX-TD per-test JSON),
``cycler-csv`` (any raw cycler file: BioLogic .mpr/.mpt, Neware .nda/.ndax/CSV, Arbin .res/CSV/XLSX,
Maccor, Landt, battery-data-format CSV; see :mod:`drxlab.profiles.readers`). ``auto`` picks by content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from drxlab.exceptions import ImportFileError
from drxlab.profiles import readers
from drxlab.profiles.importers import cycler as cycler_file
from drxlab.profiles.importers import drx_td_json, drxnet_csv
from drxlab.profiles.importers.base import ParsedProfile, ParsedTest, sha256_file

FORMATS = ("auto", "drxnet-csv", "drx-td-json", "cycler-csv")
SUFFIXES = (".json",) + readers.SUFFIXES


@dataclass(frozen=True)
class CyclerOptions:
    """What a raw cycler file does not say about itself."""

    composition: str | None = None
    active_mass: float | None = None  # g
    rate: float | None = None  # mA/g
    window: tuple[float, float] | None = None  # V
    instrument: str = ""
    keep_initial: bool = False  # count a partial discharge from OCV before the first charge as cycle 1


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
            out.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.is_file() and (f.suffix.lower() in SUFFIXES or readers.cycler_suffix(f))
                )
            )
        elif p.exists():
            out.append(p)
        else:
            raise ImportFileError(f"{p}: no such file or directory")
    return out


def detect(path: Path) -> str:
    """Format of a file by content; raises when no importer recognises it."""
    if path.stat().st_size == 0:
        raise ImportFileError(f"{path}: file is empty; expected a DRXNet CSV, DRX-TD JSON or cycler export")
    if readers.detect(path) != "text":
        return "cycler-csv"  # instrument binaries and spreadsheets; detect() refused renamed files
    for name, mod in (("drx-td-json", drx_td_json), ("drxnet-csv", drxnet_csv)):
        if mod.sniff(path):
            return name
    return "cycler-csv"  # the cycler reader names the columns it saw and the ones it knows


def read_file(
    path: Path, fmt: str = "auto", *, allow_unbalanced: bool = False, cycler: CyclerOptions = CyclerOptions()
) -> ParsedFile:
    """Read one file with the named (or detected) importer."""
    opts = cycler  # the parameter shadows the module name; keep one clear alias
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
        tests = cycler_file.read(
            path,
            composition=opts.composition,
            active_mass=opts.active_mass,
            rate=opts.rate,
            window=opts.window,
            allow_unbalanced=allow_unbalanced,
            instrument=opts.instrument,
            keep_initial=opts.keep_initial,
        )
    return ParsedFile(path=path, sha256=sha256_file(path), format=fmt, tests=tests)


def read_files(
    paths: list[Path],
    fmt: str = "auto",
    *,
    allow_unbalanced: bool = False,
    cycler: CyclerOptions = CyclerOptions(),
    keep_going: bool = False,
    on_file: Callable[[Path], None] | None = None,
) -> tuple[list[ParsedFile], list[str]]:
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


__all__ = [
    "FORMATS",
    "CyclerOptions",
    "ParsedFile",
    "ParsedProfile",
    "ParsedTest",
    "expand",
    "read_file",
    "read_files",
]
