"""DRXNet (Zhong et al., Joule 2024): discharge capacity Q(V | composition, rate, cycle, window).

A plain ``nn.Module`` whose parameter names are those of the released checkpoints, so their
state dicts load with ``strict=True`` and no renaming. The forward pass is split in three
stages so that batched callers compute each stage once per distinct input:

1. :meth:`DRXNet.encode_composition` — Roost encoder, once per composition: ``C x 32``.
2. :meth:`DRXNet.condition` — rate/cycle conditioning, once per condition (composition, rate,
   cycle): ``X_O1, X_ON``, each ``K x 32``.
3. :meth:`DRXNet.encode_voltage` + :meth:`DRXNet.capacity` — the state network, broadcast over
   the ``P`` voltage points of each condition: ``Q`` is ``K x P`` (mAh/g).

dQ/dV (mAh/g/V) is the autograd derivative of Q with respect to V (no separate head).
Units: rate in mA/g, cycle index from 1, voltages in V, all raw (no scaling).

Example:
    >>> from drxlab.chem.graph import build_graph
    >>> model = DRXNet().eval()
    >>> g = build_graph([{"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}])
    >>> out = model(g, comp_idx=torch.tensor([0]), rate=torch.tensor([20.0]),
    ...             cycle=torch.tensor([1.0]), window=torch.tensor([[1.5, 4.8]]),
    ...             voltage=torch.linspace(1.5, 4.8, 100).unsqueeze(0))
    >>> out.q.shape
    torch.Size([1, 100])
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from drxlab.chem.graph import GraphBatch
from drxlab.model.segments import MessageLayer, WeightedAttentionPooling, pool_heads


class DRXNetOutput(NamedTuple):
    """Capacities of a batch: ``q1`` (first-cycle branch, from X_O1) and ``q`` (cycle N, X_ON).

    Both are ``K x P`` tensors in mAh/g; ``q1`` is None when not requested.
    """

    q: torch.Tensor
    q1: torch.Tensor | None


class ScalarEmbedding(nn.Module):
    """``fc(SiLU(BN(hidden(x))))`` on a raw scalar (rate in mA/g or cycle number): ``K x out``."""

    def __init__(self, *, out_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(1, 2 * out_dim)
        self.bn = nn.BatchNorm1d(2 * out_dim)
        self.fc = nn.Linear(2 * out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``K x 1`` -> ``K x out_dim``."""
        return self.fc(F.silu(self.bn(self.hidden(x))))


class Gate(nn.Module):
    """``sigmoid(BN(attn(x))) * SiLU(BN(kernel(x)))``: gated condition update, ``K x out``."""

    def __init__(self, *, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.kernel = nn.Linear(in_dim, out_dim)
        self.attn = nn.Linear(in_dim, 1)
        self.bn = nn.BatchNorm1d(out_dim)
        self.bn_attn = nn.BatchNorm1d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``K x in_dim`` -> ``K x out_dim``."""
        return torch.sigmoid(self.bn_attn(self.attn(x))) * F.silu(self.bn(self.kernel(x)))


class CompositionEncoder(nn.Module):
    """Roost: embed nodes, ``n_graph`` message layers, multi-head weighted attention readout."""

    def __init__(
        self,
        *,
        elem_emb_len: int,
        elem_fea_len: int,
        n_graph: int,
        elem_heads: int,
        elem_gate: int,
        elem_msg: int,
        cry_heads: int,
        cry_gate: int,
        cry_msg: int,
    ) -> None:
        super().__init__()
        self.embedding = nn.Linear(elem_emb_len, elem_fea_len - 1)
        self.graphs = nn.ModuleList(
            MessageLayer(fea_len=elem_fea_len, heads=elem_heads, gate_hidden=elem_gate, msg_hidden=elem_msg)
            for _ in range(n_graph)
        )
        self.cry_pool = nn.ModuleList(
            WeightedAttentionPooling(
                input_dim=elem_fea_len, output_dim=elem_fea_len, gate_hidden=cry_gate, msg_hidden=cry_msg
            )
            for _ in range(cry_heads)
        )

    def forward(self, graph: GraphBatch) -> torch.Tensor:
        """Composition vectors X_comp: ``n_graphs x elem_fea_len``."""
        w = graph.node_weights
        x = torch.cat([self.embedding(graph.node_fea), w], dim=1)
        for layer in self.graphs:
            x = layer(x, w, graph.self_idx, graph.nbr_idx, graph.blocks)
        return pool_heads(self.cry_pool, x, graph.node_graph, w, graph.n_graphs)


class VoltageEncoder(nn.Module):
    """``Z0 = fc(SiLU(fc_window([V_low, V_high]) + fc_Vii(V)))`` (SiLU, as the checkpoints need)."""

    def __init__(self, *, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc_window = nn.Linear(2, hidden_dim)
        self.fc_Vii = nn.Linear(1, hidden_dim)
        self.fc = nn.Linear(hidden_dim, out_dim)

    def forward(self, window: torch.Tensor, voltage: torch.Tensor) -> torch.Tensor:
        """``window`` ``K x 2`` (V), ``voltage`` ``K x P`` (V) -> ``K x P x out_dim``.

        ``K`` may be 1 in either input (broadcast).
        """
        win = self.fc_window(window).unsqueeze(1)  # K x 1 x hidden
        v = voltage.unsqueeze(-1) * self.fc_Vii.weight[:, 0] + self.fc_Vii.bias  # K x P x hidden
        return self.fc(F.silu(win + v))


class AddVoltage(nn.Module):
    """``Z = Softplus(hidden(Z0 + X_O))``."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(dim, dim)

    def forward(self, z0: torch.Tensor, x_o: torch.Tensor) -> torch.Tensor:
        """``z0`` ``K x P x dim``, ``x_o`` ``K x dim`` -> ``K x P x dim``."""
        return F.softplus(self.hidden(z0 + x_o.unsqueeze(1)))


class CapacityHead(nn.Module):
    """``Q = Softplus(fc(Softplus(hidden(Z))))`` in mAh/g."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(dim, dim)
        self.fc = nn.Linear(dim, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``K x P x dim`` -> ``K x P``."""
        return F.softplus(self.fc(F.softplus(self.hidden(z)))).squeeze(-1)


class DRXNet(nn.Module):
    """DRXNet with keyword-only configuration, recorded in :attr:`model_args`.

    Defaults are the released configuration (DRXNET.md); ``*_gate``/``*_msg`` are the hidden
    widths of the one-hidden-layer gate and message networks.
    """

    def __init__(
        self,
        *,
        elem_emb_len: int = 200,
        elem_fea_len: int = 32,
        vol_fea_len: int = 64,
        rate_fea_len: int = 16,
        cycle_fea_len: int = 16,
        n_graph: int = 3,
        elem_heads: int = 3,
        elem_gate: int = 64,
        elem_msg: int = 64,
        cry_heads: int = 3,
        cry_gate: int = 64,
        cry_msg: int = 64,
    ) -> None:
        super().__init__()
        self.model_args: dict[str, Any] = {
            "elem_emb_len": elem_emb_len,
            "elem_fea_len": elem_fea_len,
            "vol_fea_len": vol_fea_len,
            "rate_fea_len": rate_fea_len,
            "cycle_fea_len": cycle_fea_len,
            "n_graph": n_graph,
            "elem_heads": elem_heads,
            "elem_gate": elem_gate,
            "elem_msg": elem_msg,
            "cry_heads": cry_heads,
            "cry_gate": cry_gate,
            "cry_msg": cry_msg,
        }
        d = elem_fea_len
        self.rate_embedding = ScalarEmbedding(out_dim=rate_fea_len)
        self.cycle_embedding = ScalarEmbedding(out_dim=cycle_fea_len)
        self.material_nn = CompositionEncoder(
            elem_emb_len=elem_emb_len,
            elem_fea_len=d,
            n_graph=n_graph,
            elem_heads=elem_heads,
            elem_gate=elem_gate,
            elem_msg=elem_msg,
            cry_heads=cry_heads,
            cry_gate=cry_gate,
            cry_msg=cry_msg,
        )
        self.encode_rate = Gate(in_dim=d + rate_fea_len, out_dim=d)
        self.encode_cycle = Gate(in_dim=d + cycle_fea_len, out_dim=d)
        self.delta_N = nn.Linear(1, d, bias=False)
        self.encode_voltage = VoltageEncoder(hidden_dim=vol_fea_len, out_dim=d)
        self.add_voltage = AddVoltage(dim=d)
        self.fc = CapacityHead(dim=d)

    def encode_composition(self, graph: GraphBatch) -> torch.Tensor:
        """X_comp of each material of ``graph``: ``n_graphs x elem_fea_len``."""
        return self.material_nn(graph)

    def condition(
        self, x_comp: torch.Tensor, rate: torch.Tensor, cycle: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition composition vectors on rate (mA/g) and cycle number.

        ``x_comp`` is ``K x 32`` (one row per condition), ``rate`` and ``cycle`` are ``K``.
        Returns ``(X_O1, X_ON)``, each ``K x 32``.
        """
        rate = rate.reshape(-1, 1).to(x_comp.dtype)
        cycle = cycle.reshape(-1, 1).to(x_comp.dtype)
        x_o1 = x_comp + self.encode_rate(torch.cat([x_comp, self.rate_embedding(rate)], 1))
        gate = self.encode_cycle(torch.cat([x_o1, self.cycle_embedding(cycle)], 1))
        return x_o1, x_o1 + gate * self.delta_N(cycle - 1)

    def capacity(self, z0: torch.Tensor, x_o: torch.Tensor) -> torch.Tensor:
        """Q (mAh/g, ``K x P``) from voltage states ``z0`` (``K x P x 32``) and X_O (``K x 32``)."""
        return self.fc(self.add_voltage(z0, x_o))

    def forward(
        self,
        graph: GraphBatch,
        *,
        comp_idx: torch.Tensor,
        rate: torch.Tensor,
        cycle: torch.Tensor,
        window: torch.Tensor,
        voltage: torch.Tensor,
        first_cycle: bool = False,
    ) -> DRXNetOutput:
        """Capacities for ``K`` conditions × ``P`` voltage points.

        Args:
            graph: composition graphs of ``C`` materials.
            comp_idx: ``K`` material (row of ``graph``) of each condition.
            rate: ``K`` current rates, mA/g.
            cycle: ``K`` cycle numbers (1 = first discharge).
            window: ``K x 2`` voltage windows ``[V_low, V_high]``, V, or ``1 x 2`` shared by all.
            voltage: ``K x P`` voltage points, V, or ``1 x P`` shared by all rows (then the
                voltage states are computed once and broadcast). For dQ/dV take the autograd
                derivative with respect to it (a ``K x P`` leaf, or forward mode when shared).
            first_cycle: also return the first-cycle branch ``q1``.
        """
        x_comp = self.encode_composition(graph)[comp_idx]
        x_o1, x_on = self.condition(x_comp, rate, cycle)
        z0 = self.encode_voltage(window.to(x_comp.dtype), voltage)
        q1 = self.capacity(z0, x_o1) if first_cycle else None
        return DRXNetOutput(q=self.capacity(z0, x_on), q1=q1)


def batchnorm_layers(model: nn.Module) -> list[nn.BatchNorm1d]:
    """The batch-norm layers of ``model`` (rate/cycle MLPs and the two gates)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
