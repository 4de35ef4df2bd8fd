"""Batched composition graphs for DRXNet's Roost encoder.

One graph per material: nodes are its cations (Li and the metals), anions are a mean-field
background (DRXNET.md "Data conventions"):

- node weight ``w_i = n_i / 2`` (amount per rocksalt formula unit over the cation sum 2),
- node feature ``h_i = e(el_i) + (n_F / 2) e(F)`` with ``e`` the 200-d mat2vec embedding,
- edges are all ordered pairs ``(i, j)`` of nodes of the same material, self-pairs included.

Graphs of a batch are concatenated with per-material index offsets (Roost's ``collate_batch``),
vectorised so that building the graphs of 10^4 materials takes milliseconds. Materials are laid
out sorted by node count (stable), so that runs of equal-size graphs (``blocks``) can be
computed densely; ``node_graph`` maps every node back to its material's position in the input.

Example:
    >>> g = build_graph([{"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}])
    >>> g.n_graphs, g.n_nodes, g.n_pairs
    (1, 3, 9)
    >>> g.node_weights.squeeze(1).tolist()
    [0.6000000238418579, 0.20000000298023224, 0.20000000298023224]
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from drxlab.chem.compositions import ANIONS, CATION_SUM
from drxlab.chem.embeddings import EMBEDDING_DIM, element_index, table
from drxlab.exceptions import CompositionError


@dataclass(frozen=True)
class GraphBatch:
    """The composition graphs of ``n_graphs`` materials, concatenated.

    Attributes:
        node_fea: ``n_nodes x 200`` node input features ``e(el) + c_F e(F)``.
        node_weights: ``n_nodes x 1`` node weights ``n_i / 2``.
        self_idx: ``n_pairs`` index of the receiving node ``i`` of each ordered pair.
        nbr_idx: ``n_pairs`` index of the sending node ``j`` of each ordered pair.
        node_graph: ``n_nodes`` index of the material each node belongs to.
        n_graphs: number of materials.
        blocks: ``(node_start, n_materials, k)`` runs of materials with ``k`` nodes each, in node
            order and covering all nodes; None when the layout is not known to be blocked.
    """

    node_fea: torch.Tensor
    node_weights: torch.Tensor
    self_idx: torch.Tensor
    nbr_idx: torch.Tensor
    node_graph: torch.Tensor
    n_graphs: int
    blocks: tuple[tuple[int, int, int], ...] | None = None

    @property
    def n_nodes(self) -> int:
        """Number of nodes (cations) over all materials."""
        return int(self.node_fea.shape[0])

    @property
    def n_pairs(self) -> int:
        """Number of ordered node pairs over all materials."""
        return int(self.self_idx.shape[0])

    def with_weight_grad(self) -> GraphBatch:
        """A copy whose node weights are a fresh leaf requiring grad (for ``dQ/dc``)."""
        w = self.node_weights.detach().clone().requires_grad_(True)
        return dataclasses.replace(self, node_weights=w)


def _label(amts: Mapping[str, float]) -> str:
    return "".join(f"{el}{a:g}" for el, a in amts.items())


def cation_nodes(amts: Mapping[str, float]) -> tuple[list[str], list[float], float]:
    """Cation symbols, their node weights ``n_i / 2`` and ``c_F = n_F / 2`` of one material.

    ``amts`` are amounts per rocksalt formula unit (cations sum to 2), as returned by
    :func:`drxlab.chem.compositions.amounts`. Raises :class:`CompositionError` when there is no
    cation besides Li.
    """
    els = [el for el, a in amts.items() if el not in ANIONS and a > 0]
    if not any(el != "Li" for el in els):
        raise CompositionError(
            f"composition {_label(amts)!r} has no cations besides Li; expected at least one metal"
        )
    weights = [float(amts[el]) / CATION_SUM for el in els]
    c_f = float(amts.get("F", 0.0)) / CATION_SUM
    return els, weights, c_f


def _pair_indices(sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All ordered pairs (self-pairs included) within each material, offset per material.

    ``sizes`` is the ``n_graphs`` node count per material; returns two ``n_pairs`` index tensors.
    """
    node_off = torch.cumsum(sizes, 0) - sizes
    n_pair = sizes * sizes
    pair_off = torch.cumsum(n_pair, 0) - n_pair
    graph_of_pair = torch.repeat_interleave(torch.arange(len(sizes)), n_pair)
    local = torch.arange(int(n_pair.sum())) - pair_off[graph_of_pair]
    k = sizes[graph_of_pair]
    base = node_off[graph_of_pair]
    return base + torch.div(local, k, rounding_mode="floor"), base + local % k


def build_graph(
    amounts_list: Sequence[Mapping[str, float]], *, dtype: torch.dtype = torch.float32
) -> GraphBatch:
    """Build the batched composition graph of ``amounts_list`` (one amount dict per material).

    Example:
        >>> build_graph([{"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0},
        ...              {"Li": 1.2, "Mn": 0.8, "O": 1.8, "F": 0.2}]).n_pairs
        13
    """
    if len(amounts_list) == 0:
        raise CompositionError("no compositions given; expected at least one")
    tab = table()
    rows: list[int] = []
    weights: list[float] = []
    c_fs: list[float] = []
    nodes = [cation_nodes(amts) for amts in amounts_list]
    order = sorted(range(len(nodes)), key=lambda i: len(nodes[i][0]))
    sizes: list[int] = []
    for i in order:
        els, w, c_f = nodes[i]
        rows.extend(tab.index[el] if el in tab.index else element_index(el) for el in els)
        weights.extend(w)
        c_fs.extend([c_f] * len(els))
        sizes.append(len(els))
    size_t = torch.tensor(sizes, dtype=torch.long)
    f_vec = tab.vectors[tab.index["F"]]
    fea = tab.vectors[torch.tensor(rows, dtype=torch.long)]
    fea = fea + torch.tensor(c_fs, dtype=torch.float64).unsqueeze(1) * f_vec
    self_idx, nbr_idx = _pair_indices(size_t)
    assert fea.shape[1] == EMBEDDING_DIM
    return GraphBatch(
        node_fea=fea.to(dtype),
        node_weights=torch.tensor(weights, dtype=torch.float64).unsqueeze(1).to(dtype),
        self_idx=self_idx,
        nbr_idx=nbr_idx,
        node_graph=torch.repeat_interleave(torch.tensor(order, dtype=torch.long), size_t),
        n_graphs=len(sizes),
        blocks=_blocks(sizes),
    )


def _blocks(sizes: Sequence[int]) -> tuple[tuple[int, int, int], ...]:
    """Runs ``(node_start, n_materials, k)`` of consecutive materials with equal node count."""
    out: list[tuple[int, int, int]] = []
    start = 0
    for k, run in itertools.groupby(sizes):
        n = len(list(run))
        out.append((start, n, k))
        start += n * k
    return tuple(out)
