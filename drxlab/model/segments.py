"""Segment (scatter) operations and the Roost attention blocks, torch-native (no torch-scatter).

A *segment* is the set of rows of a flat tensor that share an index (the pairs that send to
one node, the nodes of one material). Roost's weighted attention over a segment ``s`` is

    a_e = w_e exp(g_e - max_s g) / (sum_{e' in s} w_e' exp(g_e' - max_s g) + 1e-10)
    out_s = sum_{e in s} a_e m_e

with gate ``g = gate_nn(x)`` and message ``m = message_nn(x)``. Parameter names
(``gate_nn.fcs.0``, ``gate_nn.fc_out``, ``message_nn.fcs.0``, ``message_nn.fc_out``) are those of
the released DRXNet checkpoints.

The blocks below use two exact rewrites that make message passing cheap (see
:class:`MessageLayer`): the first layer on ``[x_i || x_j]`` is computed per node, not per pair,
and the last (linear) message layer is applied after the attention sum, per node.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SOFTMAX_EPS = 1e-10  # added to the softmax denominator, as in Roost / the released code


def segment_sum(src: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Sum the rows of ``src`` (``E x ...``) into ``n`` segments given by ``index`` (``E``)."""
    out = src.new_zeros((n, *src.shape[1:]))
    return out.index_add(0, index, src)


def segment_max(src: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Row-wise maximum of ``src`` (``E x H``) per segment: an ``n x H`` tensor (no gradient)."""
    src = src.detach()
    idx = index.unsqueeze(1).expand_as(src)
    out = src.new_full((n, src.shape[1]), float("-inf"))
    return out.scatter_reduce(0, idx, src, reduce="amax", include_self=True)


def weighted_softmax(
    gate: torch.Tensor, index: torch.Tensor, weights: torch.Tensor, n: int
) -> torch.Tensor:
    """Weighted softmax of ``gate`` (``E x H``) within segments; ``weights`` is ``E x 1``.

    Returns the ``E x H`` attention coefficients ``a_e``; they sum to ~1 over each segment.
    """
    g = gate - segment_max(gate, index, n)[index]
    g = weights * g.exp()
    return g / (segment_sum(g, index, n)[index] + SOFTMAX_EPS)


class SimpleNetwork(nn.Module):
    """``fc_out(SiLU(fcs[0](x)))``: one hidden layer, names as in the released checkpoints."""

    def __init__(self, *, input_dim: int, output_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fcs = nn.ModuleList([nn.Linear(input_dim, hidden_dim)])
        self.fc_out = nn.Linear(hidden_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``... x input_dim`` -> ``... x output_dim``."""
        return self.fc_out(F.silu(self.fcs[0](x)))


class WeightedAttentionPooling(nn.Module):
    """One attention head: a gate network and a message network (see the module docstring)."""

    def __init__(self, *, input_dim: int, output_dim: int, gate_hidden: int, msg_hidden: int) -> None:
        super().__init__()
        self.gate_nn = SimpleNetwork(input_dim=input_dim, output_dim=1, hidden_dim=gate_hidden)
        self.message_nn = SimpleNetwork(input_dim=input_dim, output_dim=output_dim, hidden_dim=msg_hidden)

    def forward(self, x: torch.Tensor, index: torch.Tensor, weights: torch.Tensor, n: int) -> torch.Tensor:
        """Pool ``x`` (``E x input_dim``) into ``n`` segments: ``n x output_dim``."""
        a = weighted_softmax(self.gate_nn(x), index, weights, n)
        return segment_sum(a * self.message_nn(x), index, n)


def pool_heads(
    heads: nn.ModuleList, x: torch.Tensor, index: torch.Tensor, weights: torch.Tensor, n: int
) -> torch.Tensor:
    """Mean over attention ``heads`` of their pooled outputs: ``n x output_dim``."""
    return torch.stack([h(x, index, weights, n) for h in heads]).mean(0)


class MessageLayer(nn.Module):
    """One Roost message-passing layer: multi-head weighted attention over ordered node pairs.

    For pair ``(i, j)`` each head's networks see ``[x_i || x_j]``; node ``i`` is updated by the
    head-mean of ``sum_j a_ij m_ij`` (residual). Computed exactly but cheaply:

    - the hidden pre-activation ``W [x_i || x_j] + b = (W_s x_i + b) + W_n x_j`` is formed per
      node (``n_nodes x heads*(gate+msg hidden)``) and only *added* per pair;
    - ``sum_j a_ij (W_o s_ij + b_o) = W_o (sum_j a_ij s_ij) + b_o sum_j a_ij``: the attention sum
      runs over the hidden activations and the output layer is applied once per node.
    """

    def __init__(self, *, fea_len: int, heads: int, gate_hidden: int, msg_hidden: int) -> None:
        super().__init__()
        self.fea_len = fea_len
        self.pooling = nn.ModuleList(
            WeightedAttentionPooling(
                input_dim=2 * fea_len, output_dim=fea_len, gate_hidden=gate_hidden, msg_hidden=msg_hidden
            )
            for _ in range(heads)
        )

    def _first_layer(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-node weights of all heads' first layers: ``W_self, W_nbr (K x fea_len)``, ``b (K)``."""
        ws, bs = [], []
        for head in self.pooling:
            ws += [head.gate_nn.fcs[0].weight, head.message_nn.fcs[0].weight]
            bs += [head.gate_nn.fcs[0].bias, head.message_nn.fcs[0].bias]
        w = torch.cat(ws, 0)
        return w[:, : self.fea_len], w[:, self.fea_len :], torch.cat(bs, 0)

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor, self_idx: torch.Tensor, nbr_idx: torch.Tensor
    ) -> torch.Tensor:
        """Update node features ``x`` (``n_nodes x fea_len``); ``weights`` is ``n_nodes x 1``."""
        n = x.shape[0]
        heads = list(self.pooling)
        g_hid = heads[0].gate_nn.fcs[0].out_features
        m_hid = heads[0].message_nn.fcs[0].out_features
        w_self, w_nbr, b = self._first_layer()
        hidden = F.silu((F.linear(x, w_self, b))[self_idx] + F.linear(x, w_nbr)[nbr_idx])
        hidden = hidden.view(-1, len(heads), g_hid + m_hid)  # E x H x (g_hid + m_hid)
        g_w = torch.stack([h.gate_nn.fc_out.weight[0] for h in heads])  # H x g_hid
        g_b = torch.stack([h.gate_nn.fc_out.bias[0] for h in heads])  # H
        gate = (hidden[..., :g_hid] * g_w).sum(-1) + g_b  # E x H
        a = weighted_softmax(gate, self_idx, weights[nbr_idx], n)  # E x H
        agg = segment_sum(a.unsqueeze(-1) * hidden[..., g_hid:], self_idx, n)  # n x H x m_hid
        a_sum = segment_sum(a, self_idx, n)  # n x H
        m_w = torch.stack([h.message_nn.fc_out.weight for h in heads])  # H x fea x m_hid
        m_b = torch.stack([h.message_nn.fc_out.bias for h in heads])  # H x fea
        out = torch.einsum("nhk,hfk->nf", agg, m_w) + a_sum @ m_b
        return x + out / len(heads)
