"""Example data from the DRXNet authors' repository, downloaded on request and cached.

The files stay out of drxlab's repository (they are the authors'); ``drxlab import --example``
downloads one from its public home at the pinned commit, checks its sha256 and keeps it in the
user's cache, so the demo and later imports find it offline.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drxlab.exceptions import ImportFileError
from drxlab.workflow.downloads import RELEASED_REPO_URL, download_verified


@dataclass(frozen=True)
class Example:
    """A released example file."""

    name: str
    """Name on the command line, e.g. ``lmto``."""
    file: str
    """File name in the authors' repository and in the cache."""
    folder: str
    """Folder of the file in the authors' repository."""
    sha256: str
    """Digest of the file at the pinned commit."""
    formula: str
    """Normalised composition of the measured cathode."""
    description: str

    @property
    def base_url(self) -> str:
        return f"{RELEASED_REPO_URL}/{self.folder}"


EXAMPLES = {
    "lmto": Example(
        "lmto",
        "LMTO_example.csv",
        "examples/train_example/dataset",
        "bd00b6dad3f1cb87300f0b3722452d74cb5e17e413a838a8e9b65352c8777462",
        "Li1.2Mn0.4Ti0.4O2",
        "the authors' measured Li1.2Mn0.4Ti0.4O2 cell: 20 mA/g, 1.5–4.8 V, discharge cycles 1–10",
    ),
}


def example(name: str) -> Example:
    if name not in EXAMPLES:
        raise ImportFileError(f"example {name!r} unknown; expected one of {', '.join(EXAMPLES)}")
    return EXAMPLES[name]


def cache_dir() -> Path:
    """Where pulled examples live: ``$XDG_CACHE_HOME/drxlab/examples`` (default ``~/.cache/…``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "drxlab" / "examples"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find(name: str, directories: Sequence[Path] = ()) -> Path | None:
    """The example file in one of ``directories`` (checked) or in the cache, else None.

    A file of that name in a given directory that is not the released one is an error (a
    demo must not present other data as the authors'); a damaged cached copy is ignored.
    """
    ex = example(name)
    for d in directories:
        path = Path(d) / ex.file
        if not path.is_file():
            raise ImportFileError(f"{path}: not found; expected the authors' {ex.file} in {d}")
        got = _sha256(path)
        if got != ex.sha256:
            raise ImportFileError(
                f"{path}: sha256 {got[:16]}… is not the released {ex.file} ({ex.sha256[:16]}…)"
            )
        return path
    cached = cache_dir() / ex.file
    if cached.is_file() and _sha256(cached) == ex.sha256:
        return cached
    return None


def pull(name: str, base_url: str | None = None) -> tuple[Path, bool]:
    """The cached example, downloaded and verified first if needed; returns ``(path, downloaded)``."""
    ex = example(name)
    cached = find(name)
    if cached is not None:
        return cached, False
    url = f"{(base_url or ex.base_url).rstrip('/')}/{ex.file}"
    data = download_verified(
        url,
        ex.sha256,
        what=ex.file,
        error=ImportFileError,
        offline_hint=f"or import a local copy of {ex.file} with `drxlab import FILE`",
        nothing="nothing imported",
    )
    dest = cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    # write then rename, so an interrupted pull never leaves a partial file under the final name
    with tempfile.NamedTemporaryFile(dir=dest, prefix=f".{ex.file}.", delete=False) as fh:
        fh.write(data)
    Path(fh.name).replace(dest / ex.file)
    return dest / ex.file, True
