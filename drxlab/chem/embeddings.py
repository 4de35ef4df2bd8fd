"""The 200-d mat2vec ("matscholar") element embedding that DRXNet's node features start from.

The table is read from the *installed* matminer package (``utils/data_files/matscholar_els.json``)
without importing matminer itself (importing it pulls in pandas, sklearn and more, seconds of
start-up). matminer is the lightest maintained package that ships the table bit-identical to
the one the released DRXNet checkpoints were trained with (aviary-models' matscholar200.json and
elementembeddings' matscholar-embedding.json hold the same numbers but bring heavier stacks).

The table is loaded once per process and cached as a float64 ``n_elements x 200`` tensor plus a
symbol -> row index; float64 so that ``e(el) + c_F e(F)`` is formed exactly as the reference code
does (numpy float64) before the model casts to float32.

Example:
    >>> vectors(["Li", "Mn"]).shape
    torch.Size([2, 200])
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from drxlab.exceptions import CompositionError, ModelError

EMBEDDING_DIM = 200
TABLE_RELPATH = "utils/data_files/matscholar_els.json"


@dataclass(frozen=True)
class EmbeddingTable:
    """The element embedding table.

    Attributes:
        vectors: ``n_elements x 200`` float64 tensor, one row per element.
        index: element symbol -> row of ``vectors``.
        path: the JSON file the table was read from.
    """

    vectors: torch.Tensor
    index: dict[str, int]
    path: Path


def table_path() -> Path:
    """Path of ``matscholar_els.json`` inside the installed matminer package (not imported)."""
    spec = importlib.util.find_spec("matminer")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the mat2vec element table needs the 'matminer' package (it ships matscholar_els.json); "
            "install it with `pip install matminer`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / TABLE_RELPATH
    if not path.is_file():
        raise ModelError(f"matminer is installed but {path} is missing; reinstall matminer")
    return path


@functools.lru_cache(maxsize=1)
def table() -> EmbeddingTable:
    """Load (once per process) and return the mat2vec embedding table."""
    path = table_path()
    with open(path, encoding="utf-8") as fh:
        raw: dict[str, list[float]] = json.load(fh)
    symbols = sorted(raw)
    vecs = torch.tensor([raw[s] for s in symbols], dtype=torch.float64)
    if vecs.shape[1] != EMBEDDING_DIM:
        raise ModelError(f"{path} holds {vecs.shape[1]}-d vectors; expected {EMBEDDING_DIM}")
    return EmbeddingTable(vectors=vecs, index={s: i for i, s in enumerate(symbols)}, path=path)


def element_index(element: str) -> int:
    """Row of ``element`` in the table; :class:`CompositionError` when it has no embedding."""
    tab = table()
    try:
        return tab.index[element]
    except KeyError:
        raise CompositionError(
            f"element {element!r} is not in the mat2vec (matscholar) embedding table; "
            f"known elements: {', '.join(sorted(tab.index))}"
        ) from None


def vectors(elements: Iterable[str]) -> torch.Tensor:
    """``k x 200`` float64 embeddings of ``elements`` (in order)."""
    rows = [element_index(el) for el in elements]
    return table().vectors[torch.tensor(rows, dtype=torch.long)]
