"""Element embeddings and composition graphs."""

from __future__ import annotations

import pytest
import torch

from drxlab.chem import embeddings
from drxlab.chem.compositions import amounts
from drxlab.chem.graph import build_graph
from drxlab.exceptions import CompositionError
from drxlab.model.drxnet import DRXNet

LMTO = {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}


def test_table_is_200d_and_cached() -> None:
    tab = embeddings.table()
    assert tab.vectors.shape[1] == 200 and tab.vectors.dtype == torch.float64
    assert {"Li", "Mn", "F", "O", "Nb"} <= set(tab.index)
    assert embeddings.table() is tab
    assert embeddings.table_path().name == "matscholar_els.json"


def test_unknown_element_names_it() -> None:
    with pytest.raises(CompositionError, match=r"'Xx'.*not in the mat2vec"):
        embeddings.vectors(["Li", "Xx"])
    with pytest.raises(CompositionError, match=r"'Og'.*not in the mat2vec"):
        build_graph([{"Li": 1.2, "Og": 0.8, "O": 2.0}])


def test_graph_of_lmto() -> None:
    g = build_graph([amounts("Li1.2Mn0.4Ti0.4O2")])
    assert (g.n_graphs, g.n_nodes, g.n_pairs) == (1, 3, 9)
    assert torch.allclose(g.node_weights.squeeze(1), torch.tensor([0.6, 0.2, 0.2]))
    assert g.self_idx.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert g.nbr_idx.tolist() == [0, 1, 2] * 3
    assert torch.equal(g.node_fea, embeddings.vectors(["Li", "Mn", "Ti"]).float())


def test_fluorine_is_a_mean_field_on_every_node() -> None:
    g = build_graph([amounts("Li1.2Mn0.8O1.8F0.2")])
    expect = embeddings.vectors(["Li", "Mn"]) + 0.1 * embeddings.vectors(["F"])
    assert torch.allclose(g.node_fea, expect.float())
    assert g.n_nodes == 2  # anions are not nodes


def test_batch_offsets_and_material_index() -> None:
    comps = [{"Li": 1.1, "Mn": 0.3, "Cr": 0.2, "Ti": 0.4, "O": 2.0}, LMTO, {"Li": 1.0, "Ni": 1.0, "O": 2.0}]
    g = build_graph(comps)
    assert g.n_graphs == 3 and g.n_pairs == 16 + 9 + 4
    # materials are laid out by node count; node_graph maps back to the input order
    assert g.node_graph.tolist() == [2, 2, 1, 1, 1, 0, 0, 0, 0]
    assert g.blocks == ((0, 1, 2), (2, 1, 3), (5, 1, 4))
    same = g.node_graph[g.self_idx] == g.node_graph[g.nbr_idx]
    assert bool(same.all())


def test_no_cation_besides_li() -> None:
    with pytest.raises(CompositionError, match="no cations besides Li"):
        build_graph([{"Li": 2.0, "O": 1.0, "F": 1.0}])
    with pytest.raises(CompositionError, match="no compositions"):
        build_graph([])


def test_dense_blocks_equal_sparse_pairs() -> None:
    torch.manual_seed(1)
    model = DRXNet().eval()
    comps = [
        LMTO,
        {"Li": 1.2, "Mn": 0.1, "Mg": 0.1, "Cr": 0.3, "Ti": 0.2, "Nb": 0.1, "O": 1.8, "F": 0.2},
        {"Li": 1.0, "Ni": 0.5, "Mn": 0.5, "O": 2.0},
        {"Li": 1.3, "V": 0.7, "O": 2.0},
    ]
    g = build_graph(comps)
    from dataclasses import replace

    with torch.no_grad():
        dense = model.encode_composition(g)
        sparse = model.encode_composition(replace(g, blocks=None))
        one_by_one = torch.cat([model.encode_composition(build_graph([c])) for c in comps])
    assert torch.allclose(dense, sparse, atol=1e-5)
    assert torch.allclose(dense, one_by_one, atol=1e-5)
