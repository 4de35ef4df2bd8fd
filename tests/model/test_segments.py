"""The fast message passing (fused, dense, sub-blocked, in place) equals textbook Roost.

The reference below is Roost's own formulation: every head's gate and message networks applied
to ``[x_i || x_j]`` of every ordered pair, a weighted softmax and a sum per receiving node, the
head mean added to the input. It shares no code path with ``MessageLayer.forward``.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from drxlab.bench.predict import random_compositions
from drxlab.candidates.generator import iter_candidates
from drxlab.candidates.spec import load_spec
from drxlab.chem.graph import GraphBatch, build_graph
from drxlab.model import segments
from drxlab.model.drxnet import DRXNet
from drxlab.model.ensemble import Ensemble
from drxlab.model.segments import MessageLayer, pool_heads

HE_DRX = Path(__file__).resolve().parents[2] / "campaigns" / "he-drx.toml"


def roost_layer(layer: MessageLayer, x: torch.Tensor, g: GraphBatch) -> torch.Tensor:
    pairs = torch.cat([x[g.self_idx], x[g.nbr_idx]], 1)
    w = g.node_weights[g.nbr_idx]
    return x + torch.stack([h(pairs, g.self_idx, w, len(x)) for h in layer.pooling]).mean(0)


def roost_encode(model: DRXNet, g: GraphBatch) -> torch.Tensor:
    enc = model.material_nn
    x = torch.cat([enc.embedding(g.node_fea), g.node_weights], 1)
    for layer in enc.graphs:
        x = roost_layer(layer, x, g)
    return pool_heads(enc.cry_pool, x, g.node_graph, g.node_weights, g.n_graphs)


def as_double(g: GraphBatch) -> GraphBatch:
    return replace(g, node_fea=g.node_fea.double(), node_weights=g.node_weights.double())


def he_drx_candidates(n: int) -> list[dict[str, float]]:
    """``n`` candidates spread over the first 20,000 of the he-drx campaign (5–7 cations)."""
    b = next(iter_candidates(load_spec(HE_DRX), chunk=20_000, species=False))
    rows = b.amounts[:: len(b) // n][:n].tolist()
    return [{el: a for el, a in zip(b.elements, r) if a > 0} for r in rows]


@pytest.mark.parametrize("gate_sum", ["matmul", "product"])
def test_every_path_equals_textbook_roost(monkeypatch: pytest.MonkeyPatch, gate_sum: str) -> None:
    """In float64 all paths must agree to rounding; gate and message widths differ on purpose
    (a mix-up of their units or heads cannot cancel) and sub-blocks of 20 pairs cut every run
    of equal-size materials, with remainders."""
    monkeypatch.setattr(segments, "GATE_SUM", gate_sum)
    torch.manual_seed(3)
    model = DRXNet(elem_fea_len=16, n_graph=2, elem_heads=3, elem_gate=8, elem_msg=12).double().eval()
    for p in model.parameters():  # random weights large enough that the softmax is far from uniform
        p.data.mul_(3.0)
    g = as_double(build_graph(random_compositions(40, seed=5)))
    assert g.blocks is not None and len(g.blocks) >= 3
    monkeypatch.setattr(segments, "DENSE_PAIRS", 20)
    with torch.no_grad():
        ref = roost_encode(model, g)
        sparse = model.encode_composition(replace(g, blocks=None))
    with torch.inference_mode():
        dense_inplace = model.encode_composition(g)
    dense_grad = model.encode_composition(g)  # the training path (no in-place updates)
    dense_grad.sum().backward()  # and it is differentiable
    assert ref.std() > 0.1
    for out in (dense_inplace, dense_grad.detach(), sparse):
        assert torch.allclose(out, ref, rtol=0, atol=1e-10), (out - ref).abs().max()


@pytest.mark.parametrize("gate_sum", ["matmul", "product"])
def test_released_capacities_equal_textbook_roost(
    released: Ensemble, monkeypatch: pytest.MonkeyPatch, gate_sum: str
) -> None:
    """The screening path (float32, chunks, sub-blocks, in place) on he-drx candidates against
    the textbook encoder in float64: equal within float32 rounding (≤ 1e-3 mAh/g; either float32
    path, the previous one included, is ~4e-4 mAh/g from it)."""
    monkeypatch.setattr(segments, "GATE_SUM", gate_sum)
    comps = he_drx_candidates(300)
    fast = released.predict_capacity(comps, 20.0, 1.5, 4.8, 1, chunk_size=128)
    g = as_double(build_graph(comps))
    ref = []
    with torch.no_grad():
        for member in released.members:
            m = copy.deepcopy(member).double()
            x_comp = roost_encode(m, g)
            n = len(comps)
            x_o1, x_on = m.condition(x_comp, torch.full((n,), 20.0), torch.ones(n))
            z0 = m.encode_voltage(torch.tensor([[1.5, 4.8]], dtype=torch.float64), torch.full((1, 1), 1.5))
            ref.append(m.capacity(z0, x_on)[:, 0].numpy())
    ref = np.stack(ref)
    assert ref.std() > 5.0  # mAh/g: the candidates differ
    assert np.abs(fast - ref).max() <= 1e-3, np.abs(fast - ref).max()
