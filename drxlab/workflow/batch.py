"""The weekly batch: one sheet (CSV or XLSX) with a row per sample, logged all together or not at all.

Columns (``suggest --sheet`` writes them pre-filled): ``sample_id``, ``composition`` (a check
against the store), ``file`` (relative to the sheet's folder), ``active_mass_g``,
``failed_reason`` (instead of a file, for a failed synthesis or cell). Rows with neither a file nor
a reason are samples still waiting and are left alone.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from drxlab.chem import compositions
from drxlab.exceptions import DrxlabError, ImportFileError
from drxlab.profiles.importers import CyclerOptions
from drxlab.workflow.results import Logged, PendingLog, prepare_failed, prepare_test, write_pending

COLUMNS = ("sample_id", "composition", "file", "active_mass_g", "failed_reason")


@dataclass(frozen=True)
class SheetRow:
    """One filled row of a batch sheet; ``line`` is its row number in the sheet (header = 1)."""

    line: int
    sample_id: int
    composition: str
    file: Path | None
    active_mass_g: float | None
    failed_reason: str


def write_sheet(path: Path, samples: list[tuple[int, str]]) -> None:
    """A sheet pre-filled with (sample id, composition), to be completed in the lab."""
    rows = [[sid, formula, "", "", ""] for sid, formula in samples]
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "samples"
        ws.append(list(COLUMNS))
        for r in rows:
            ws.append(r)
        wb.save(path)
        return
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(rows)


def _cells(path: Path) -> list[list[str]]:
    if path.suffix.lower() == ".xlsx":
        try:
            import openpyxl

            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise ImportFileError(f"{path}: not a readable .xlsx sheet ({type(exc).__name__})") from None
        return [
            ["" if c is None else str(c).strip() for c in r]
            for r in wb.worksheets[0].iter_rows(values_only=True)
        ]
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [[c.strip() for c in r] for r in csv.reader(fh)]


def read_sheet(path: Path) -> list[SheetRow]:
    """The filled rows of a batch sheet; a malformed row is an error naming its line and field."""
    cells = _cells(path)
    if not cells:
        raise ImportFileError(f"{path}: the sheet is empty; expected the header {','.join(COLUMNS)}")
    header = [h.lower() for h in cells[0]]
    missing = [c for c in ("sample_id", "file", "active_mass_g", "failed_reason") if c not in header]
    if missing:
        raise ImportFileError(
            f"{path}: row 1: missing column(s) {missing}; expected {','.join(COLUMNS)} "
            "(the sheet `drxlab suggest` writes has them)"
        )
    col = {name: header.index(name) for name in COLUMNS if name in header}
    out: list[SheetRow] = []

    def cell(r: list[str], name: str) -> str:
        return r[col[name]] if name in col and col[name] < len(r) else ""

    for line, r in enumerate(cells[1:], start=2):
        get = lambda name, r=r: cell(r, name)
        if not any(r):
            continue
        file, reason, mass = get("file"), get("failed_reason"), get("active_mass_g")
        if not file and not reason:
            continue  # still waiting for its result
        where = f"{path}: row {line}"
        try:
            sid = int(float(get("sample_id")))
        except ValueError:
            raise ImportFileError(
                f"{where}: field sample_id is {get('sample_id')!r}; expected a sample id"
            ) from None
        if file and reason:
            raise ImportFileError(f"{where}: both a file and a failed_reason; give one of them")
        m = None
        if mass:
            try:
                m = float(mass)
            except ValueError:
                m = math.nan
            if not (math.isfinite(m) and m > 0):
                raise ImportFileError(
                    f"{where}: field active_mass_g is {mass!r}; expected a positive mass in g"
                )
        fpath = (path.parent / file) if file else None
        if fpath is not None and not fpath.exists():
            raise ImportFileError(f"{where}: field file: {fpath} does not exist")
        out.append(SheetRow(line, sid, get("composition"), fpath, m, reason))
    if not out:
        raise ImportFileError(f"{path}: no row has a file or a failed_reason; nothing to log")
    return out


def prepare_batch(
    session: Session, path: Path, *, keep_initial: bool = False, replace: bool = False
) -> list[PendingLog]:
    """Read and check every filled row (nothing written); one bad row raises."""
    pending = []
    for row in read_sheet(path):
        where = f"{path}: row {row.line}"
        with _row(where, row.sample_id):
            if row.composition:
                compositions.normalise(row.composition)
            if row.failed_reason:
                p = prepare_failed(session, row.sample_id, row.failed_reason, replace)
            else:
                opts = CyclerOptions(active_mass=row.active_mass_g, keep_initial=keep_initial)
                p = prepare_test(session, row.file, sample_id=row.sample_id, cycler=opts, replace=replace)
        if row.composition and compositions.normalise(row.composition) != p.formula:
            raise ImportFileError(
                f"{where}: composition {row.composition} is not sample {row.sample_id}'s "
                f"{p.formula}; check the sample id"
            )
        pending.append(dataclasses.replace(p, where=where))
    return pending


def write_batch(session: Session, pending: Sequence[PendingLog]) -> list[Logged]:
    """Write checked rows in the caller's transaction: one refused row raises and nothing is kept."""
    logged = []
    for p in pending:
        with _row(p.where, p.sample_id):
            logged.append(write_pending(session, p))
    return logged


def log_batch(
    session: Session, path: Path, *, keep_initial: bool = False, replace: bool = False
) -> list[Logged]:
    """Log every filled row in the caller's transaction: one bad row raises and nothing is kept."""
    return write_batch(session, prepare_batch(session, path, keep_initial=keep_initial, replace=replace))


@contextmanager
def _row(where: str, sample_id: int | None) -> Iterator[None]:
    """Errors of a row name the sheet, row and sample (and keep the option that overrides them)."""
    try:
        yield
    except DrxlabError as exc:
        raise ImportFileError(
            f"{where} (sample {sample_id}): {exc}", option=exc.option, option_use=exc.option_use
        ) from None
