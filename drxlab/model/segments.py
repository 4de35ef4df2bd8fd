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
and the last (linear) message layer is applied after the attention sum, per node. When the
materials of a batch are laid out in runs of equal node count (``GraphBatch.blocks``), each run
is computed densely (``c x k x k`` pairs by broadcasting, no gathers or scatters): ~1.5x faster.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def weighted_softmax(gate: torch.Tensor, index: torch.Tensor, weights: torch.Tensor, n: int) -> torch.Tensor:
    """Weighted softmax of ``gate`` (``E x H``) within segments; ``weights`` is ``E x 1``.

    Returns the ``E x H`` attention coefficients ``a_e``; they sum to ~1 over each segment.
    """
    g = gate - segment_max(gate, index, n).index_select(0, index)
    g = weights * g.exp()
    return g / (segment_sum(g, index, n).index_select(0, index) + SOFTMAX_EPS)


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

    def _weights(self) -> dict[str, torch.Tensor]:
        """All heads' weights fused, hidden units ordered [gates of all heads | messages of all heads].

        ``w_self``, ``w_nbr``: ``H(g+m) x fea`` (the two halves of the first layers);
        ``b``: ``H(g+m)``; ``g_out``: ``Hg x H`` block-diagonal gate outputs; ``g_b``: ``H``;
        ``m_out``: ``Hm x fea`` stacked message outputs; ``m_b``: ``H x fea``.
        """
        heads = list(self.pooling)
        first = [h.gate_nn.fcs[0] for h in heads] + [h.message_nn.fcs[0] for h in heads]
        w = torch.cat([lin.weight for lin in first], 0)
        return {
            "w_self": w[:, : self.fea_len],
            "w_nbr": w[:, self.fea_len :],
            "b": torch.cat([lin.bias for lin in first], 0),
            "g_out": torch.block_diag(*[h.gate_nn.fc_out.weight.t() for h in heads]),
            "g_b": torch.cat([h.gate_nn.fc_out.bias for h in heads]),
            "m_out": torch.cat([h.message_nn.fc_out.weight.t() for h in heads], 0),
            "m_b": torch.stack([h.message_nn.fc_out.bias for h in heads]),
        }

    def forward(
        self,
        x: torch.Tensor,
        weights: torch.Tensor,
        self_idx: torch.Tensor,
        nbr_idx: torch.Tensor,
        blocks: Sequence[tuple[int, int, int]] | None = None,
    ) -> torch.Tensor:
        """Update node features ``x`` (``n_nodes x fea_len``); ``weights`` is ``n_nodes x 1``.

        ``blocks`` (``(node_start, n_materials, k)`` runs of materials with ``k`` nodes each,
        covering all nodes in order) selects the dense per-block computation; otherwise the
        pair lists ``self_idx``/``nbr_idx`` (``n_pairs``) are used. Both give the same result.
        """
        p = self._weights()
        a_self = F.linear(x, p["w_self"], p["b"])  # n x H(g+m)
        a_nbr = F.linear(x, p["w_nbr"])
        if blocks is None:
            out = self._sparse(a_self, a_nbr, weights, self_idx, nbr_idx, p)
        else:
            out = torch.cat(
                [
                    self._dense(
                        a_self[s : s + c * k], a_nbr[s : s + c * k], weights[s : s + c * k], c, k, p
                    ).reshape(c * k, -1)
                    for s, c, k in blocks
                ]
            )
        return x + out / len(self.pooling)

    @staticmethod
    def _gate(hidden: torch.Tensor, p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden activations ``... x H(g+m)`` -> gate logits ``... x H`` and messages ``... x H x m``."""
        hg, heads = p["g_out"].shape
        flat = hidden.reshape(-1, hidden.shape[-1])  # a view: 2-D matmul on a strided slice, no copy
        gate = torch.addmm(p["g_b"], flat[:, :hg], p["g_out"]).view(*hidden.shape[:-1], heads)
        return gate, hidden[..., hg:].unflatten(-1, (heads, -1))

    def _sparse(
        self,
        a_self: torch.Tensor,
        a_nbr: torch.Tensor,
        weights: torch.Tensor,
        self_idx: torch.Tensor,
        nbr_idx: torch.Tensor,
        p: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Head-summed update over the pair lists: ``n x fea``."""
        n = a_self.shape[0]
        hidden = F.silu(a_self.index_select(0, self_idx) + a_nbr.index_select(0, nbr_idx))
        gate, msg = self._gate(hidden, p)  # E x H, E x H x m
        a = weighted_softmax(gate, self_idx, weights.index_select(0, nbr_idx), n)
        agg = segment_sum(a.unsqueeze(-1) * msg, self_idx, n)  # n x H x m
        return agg.flatten(1) @ p["m_out"] + segment_sum(a, self_idx, n) @ p["m_b"]

    def _dense(
        self,
        a_self: torch.Tensor,
        a_nbr: torch.Tensor,
        weights: torch.Tensor,
        c: int,
        k: int,
        p: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Head-summed update of ``c`` materials with ``k`` nodes each (all ``k x k`` pairs)."""
        hidden = a_self.view(c, k, 1, -1) + a_nbr.view(c, 1, k, -1)  # c x k(i) x k(j) x H(g+m)
        hidden = F.silu(hidden, inplace=not torch.is_grad_enabled())
        gate, msg = self._gate(hidden, p)  # c x k x k x H, c x k x k x H x m
        gate = gate - gate.detach().amax(2, keepdim=True)
        e = weights.view(c, 1, k, 1) * gate.exp()
        a = e / (e.sum(2, keepdim=True) + SOFTMAX_EPS)
        agg = (a.unsqueeze(-1) * msg).sum(2)  # c x k x H x m
        return agg.flatten(2) @ p["m_out"] + a.sum(2) @ p["m_b"]  # c x k x fea
