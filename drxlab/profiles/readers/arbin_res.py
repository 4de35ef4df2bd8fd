"""Arbin ``.res`` files (MS Access / JET4) through ``mdb-export`` from Debian's mdbtools.

mdb-export reads the MITS Pro 7 schema that galvani's ``res2sqlite`` (and so navani) rejects
("global_table has no column named builtinvoltcount"); cellpy reads .res files the same way.
``Channel_Normal_Table`` holds the points (A, Ah, s; discharge current negative).
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

from drxlab.exceptions import ImportFileError
from drxlab.profiles.readers.raw import RawRun
from drxlab.profiles.readers.tables import find_layout, read_rows

MDB_EXPORT = "mdb-export"


def _export(db: Path, table: str, where: str) -> str:
    exe = shutil.which(MDB_EXPORT)
    if exe is None:
        raise ImportFileError(
            f"{where}: reading Arbin .res files needs the '{MDB_EXPORT}' program from mdbtools; "
            "install it (Debian/Ubuntu: apt-get install mdbtools; macOS: brew install mdbtools)"
        )
    proc = subprocess.run([exe, str(db), table], capture_output=True, timeout=600, check=False)
    if proc.returncode != 0:
        msg = proc.stderr.decode("latin-1", "replace").strip().splitlines()
        raise ImportFileError(
            f"{where}: not a readable Arbin .res (MS Access) file, truncated or damaged; "
            f"mdb-export: {' '.join((msg[-1] if msg else 'failed').split())[:160]}"
        )
    return proc.stdout.decode("latin-1")


def read(path: Path) -> RawRun:
    """Points of an Arbin .res (or .res.gz) file in s / V / mA / mAh."""
    where = str(path)
    with tempfile.TemporaryDirectory() as tmp:
        db = path
        if path.suffix.lower() == ".gz":
            db = Path(tmp) / path.stem
            try:
                with gzip.open(path) as src, open(db, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (OSError, EOFError) as exc:
                raise ImportFileError(f"{where}: not a readable gzip file ({exc})") from None
        text = _export(db, "Channel_Normal_Table", where)
        try:
            glob_text = _export(db, "Global_Table", where)
        except ImportFileError:
            glob_text = ""
    lines = text.splitlines()
    if len(lines) < 2:
        raise ImportFileError(
            f"{where}: Channel_Normal_Table holds no data points (a truncated or damaged "
            ".res file, or a test that never started)"
        )
    layout = find_layout(lines[:1], where)
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:]))))
    # an Access table has no row order: mdb-export returns pages as stored, so sort by the point index
    header = next(csv.reader([lines[0]]))
    if "Data_Point" in header:
        k = header.index("Data_Point")
        rows.sort(key=lambda r: float(r[k]) if len(r) > k and r[k] else float("inf"))
    meta: dict = {"instrument": "Arbin"}
    g = list(csv.DictReader(io.StringIO(glob_text)))
    if g:
        for key in ("Test_Name", "Schedule_File_Name", "Creator", "Comments", "Channel_Number"):
            if g[0].get(key):
                meta[key] = g[0][key]
    return read_rows(rows, layout, where=where, fmt="arbin-res", reader="mdb-export (mdbtools)", meta=meta)
