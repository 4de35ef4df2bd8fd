"""Cycler file readers behind one call: :func:`read_raw` detects the format and returns a RawRun.

=================  =============================  =======================================
format             detected by                    reader
=================  =============================  =======================================
biologic-mpr       "BIO-LOGIC MODULAR FILE"       datalab-org-galvani (extra ``biologic``)
biologic-mpt       "EC-Lab ASCII FILE"            drxlab (pandas)
neware-nda/ndax    "NEWARE" / zip with data.ndc   fastnda
arbin-res          "Standard Jet DB" (MS Access)  mdb-export (mdbtools)
xlsx               zip with xl/workbook.xml       openpyxl
maccor, landt-csv, header names (tables.py)       drxlab table parser
neware-csv, ...
=================  =============================  =======================================

A binary file whose extension names another format is refused: a renamed file usually means a
mix-up of files, and reading it silently would attach the wrong run to a sample.
"""

from __future__ import annotations

import gzip
import tempfile
import zipfile
from pathlib import Path

from drxlab.exceptions import ImportFileError
from drxlab.profiles.readers.raw import RawRun

BINARY_SUFFIXES = {
    ".mpr": "biologic-mpr",
    ".nda": "neware-nda",
    ".ndax": "neware-ndax",
    ".res": "arbin-res",
    ".xlsx": "xlsx",
}
SUFFIXES = (".mpr", ".mpt", ".nda", ".ndax", ".res", ".gz", ".zip", ".xlsx", ".csv", ".tsv", ".txt") + tuple(
    f".{k:03d}" for k in range(100)
)
NAMES = {
    "biologic-mpr": "BioLogic EC-Lab .mpr",
    "biologic-mpt": "BioLogic EC-Lab .mpt text",
    "neware-nda": "Neware .nda",
    "neware-ndax": "Neware .ndax",
    "arbin-res": "Arbin .res (MS Access)",
    "xlsx": "Excel .xlsx",
    "text": "text export",
}


def _content(path: Path) -> str:
    """Format by the first bytes (the extension is only checked against it)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"BIO-LOGIC MODULAR FILE"):
        return "biologic-mpr"
    if head.startswith(b"EC-Lab ASCII FILE"):
        return "biologic-mpt"
    if head.startswith(b"NEWARE"):
        return "neware-nda"
    if head[4:19] in (b"Standard Jet DB", b"Standard ACE DB"):
        return "arbin-res"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(path).namelist()
        except zipfile.BadZipFile:
            return "broken-zip"
        if any(n.endswith("data.ndc") for n in names):
            return "neware-ndax"
        if "xl/workbook.xml" in names:
            return "xlsx"
        return "zip"
    if b"\x00" in head:
        return "binary"
    return "text"


def detect(path: Path) -> str:
    """The format of a cycler file, or an ImportFileError saying why it cannot be read."""
    if path.stat().st_size == 0:
        raise ImportFileError(f"{path}: file is empty")
    fmt = _content(path)
    claimed = BINARY_SUFFIXES.get(path.suffix.lower())
    if fmt in ("broken-zip",):
        raise ImportFileError(
            f"{path}: a damaged or truncated zip container (.ndax/.xlsx/.zip); copy the file again"
        )
    if fmt == "binary":
        raise ImportFileError(
            f"{path}: binary content of no known cycler format (BioLogic .mpr, Neware .nda/.ndax, "
            "Arbin .res); a text export needs time, voltage and current columns"
        )
    if claimed and fmt != claimed and not (claimed == "neware-nda" and fmt == "neware-nda"):
        what = NAMES.get(fmt, fmt)
        raise ImportFileError(
            f"{path}: the extension says {NAMES[claimed]} but the content is {what}; "
            "was the file renamed? give it its own extension"
        )
    return fmt


def read_raw(path: Path) -> RawRun:
    """Read any supported cycler file into a :class:`RawRun` (s, V, mA with discharge < 0, mAh)."""
    path = Path(path)
    fmt = detect(path)
    if fmt in ("gzip", "zip"):
        return _read_packed(path, fmt)
    if fmt == "biologic-mpr":
        from drxlab.profiles.readers import biologic

        return biologic.read_mpr(path)
    if fmt == "biologic-mpt":
        from drxlab.profiles.readers import biologic

        return biologic.read_mpt(path)
    if fmt in ("neware-nda", "neware-ndax"):
        from drxlab.profiles.readers import neware

        return neware.read(path)
    if fmt == "arbin-res":
        from drxlab.profiles.readers import arbin_res

        return arbin_res.read(path)
    from drxlab.profiles.readers import tables

    if fmt == "xlsx":
        return tables.read_xlsx(path)
    return tables.read_text(path)


def _read_packed(path: Path, fmt: str) -> RawRun:
    """A .gz or single-file .zip: unpack next to nothing (a temp dir) and read the member."""
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "gzip":
            inner = Path(tmp) / path.stem
            if inner.suffix.lower() == ".res":
                from drxlab.profiles.readers import arbin_res

                return arbin_res.read(path)
            try:
                inner.write_bytes(gzip.decompress(path.read_bytes()))
            except (OSError, EOFError) as exc:
                raise ImportFileError(f"{path}: not a readable gzip file ({exc})") from None
        else:
            with zipfile.ZipFile(path) as z:
                members = [n for n in z.namelist() if not n.endswith("/")]
                if len(members) != 1:
                    raise ImportFileError(
                        f"{path}: a zip with {len(members)} files; expected one cycler file"
                    )
                try:
                    z.extract(members[0], tmp)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise ImportFileError(f"{path}: damaged zip ({exc})") from None
                inner = Path(tmp) / members[0]
        return read_raw(inner)


def cycler_suffix(path: Path) -> bool:
    """True for names a directory scan picks up as cycler files."""
    name = path.name.lower()
    return path.suffix.lower() in SUFFIXES or name.endswith((".res.gz", ".nda.zip"))


__all__ = ["SUFFIXES", "RawRun", "detect", "read_raw"]
