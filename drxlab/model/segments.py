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

The dense path is memory-bound (a few flops per byte of pair activations), so it is arranged to
touch each pair activation as few times as possible: gate and message activations are separate
contiguous tensors, runs are cut into sub-blocks of :data:`DENSE_PAIRS` pairs that stay in
cache, without autograd the activations are updated in place, and the gate logits are a
product and a sum per head (:data:`GATE_SUM`). Measured against the previous dense path on the
released ensemble and he-drx candidates (1 thread, CPU time): screening 1.6-1.8x faster, capacities
equal within float32 rounding (≤ 5e-4 mAh/g).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

SOFTMAX_EPS = 1e-10  # added to the softmax denominator, as in Roost / the released code
DENSE_PAIRS = 4096  # node pairs per dense sub-block: 3 MB per activation tensor at the released widths
NODE_TERMS = ("g_self", "g_nbr", "m_self", "m_nbr")  # per-node halves of the first layers
# How each head's gate logit (a dot product over its g hidden units) is summed. "product": an
# elementwise product and a sum per head, 5x cheaper for this step than "matmul", one matmul with
# the block-diagonal Hg x H output matrix as the previous dense path did (its float32 rounding is
# then reproduced bit for bit when the screening chunks are also the previous 256). The two sum in
# different orders: capacities differ by up to ~5e-4 mAh/g, as much as the vmap and loop
# strategies differ from each other, and each is ~4e-4 mAh/g from a float64 evaluation.
GATE_SUM: Literal["matmul", "product"] = "product"


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
        """All heads' weights fused, hidden units ordered by head (gate and message kept apart).

        ``g_self``, ``g_nbr``: ``Hg x fea`` (the two halves of the gates' first layers), ``g_bias``:
        ``Hg``; ``m_self``, ``m_nbr``, ``m_bias`` likewise for the messages (``Hm``); ``g_out``:
        ``H x g`` gate output rows, ``g_block`` the same as an ``Hg x H`` block-diagonal matrix;
        ``g_b``: ``H``; ``m_out``: ``Hm x fea`` stacked message outputs; ``m_b``: ``H x fea``.
        """
        heads = list(self.pooling)
        out: dict[str, torch.Tensor] = {}
        for key, first in (
            ("g", [h.gate_nn.fcs[0] for h in heads]),
            ("m", [h.message_nn.fcs[0] for h in heads]),
        ):
            w = torch.cat([lin.weight for lin in first], 0)
            out[f"{key}_self"] = w[:, : self.fea_len]
            out[f"{key}_nbr"] = w[:, self.fea_len :]
            out[f"{key}_bias"] = torch.cat([lin.bias for lin in first], 0)
        out["g_out"] = torch.cat([h.gate_nn.fc_out.weight for h in heads], 0)
        out["g_block"] = torch.block_diag(*[h.gate_nn.fc_out.weight.t() for h in heads])
        out["g_b"] = torch.cat([h.gate_nn.fc_out.bias for h in heads])
        out["m_out"] = torch.cat([h.message_nn.fc_out.weight.t() for h in heads], 0)
        out["m_b"] = torch.stack([h.message_nn.fc_out.bias for h in heads])
        return out

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
        # per node: n x Hg and n x Hm each, contiguous (the pair sums below then stream)
        node = {k: F.linear(x, p[k], p[k[0] + "_bias"] if k.endswith("self") else None) for k in NODE_TERMS}
        if blocks is None:
            out = self._sparse(node, weights, self_idx, nbr_idx, p)
        else:
            parts = []
            for start, count, k in blocks:
                # sub-blocks of at most DENSE_PAIRS pairs keep the pair tensors cache-resident
                step = max(1, DENSE_PAIRS // (k * k))
                for s in range(start, start + count * k, step * k):
                    c = min(step, (start + count * k - s) // k)
                    rows = slice(s, s + c * k)
                    parts.append(self._dense({n: t[rows] for n, t in node.items()}, weights[rows], c, k, p))
            out = torch.cat(parts)
        return x + out / len(self.pooling)

    @staticmethod
    def _gate_logits(hidden: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """Gate hidden activations ``... x Hg`` -> logits ``... x H`` (see :data:`GATE_SUM`;
        ``"product"`` consumes ``hidden`` when no gradient is recorded)."""
        heads = p["g_out"].shape[0]
        if GATE_SUM == "product":
            h = hidden.unflatten(-1, (heads, -1))
            prod = h.mul_(p["g_out"]) if not torch.is_grad_enabled() else h * p["g_out"]
            return prod.sum(-1) + p["g_b"]
        flat = hidden.reshape(-1, hidden.shape[-1])
        return torch.addmm(p["g_b"], flat, p["g_block"]).view(*hidden.shape[:-1], heads)

    def _sparse(
        self,
        node: dict[str, torch.Tensor],
        weights: torch.Tensor,
        self_idx: torch.Tensor,
        nbr_idx: torch.Tensor,
        p: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Head-summed update over the pair lists: ``n x fea``."""
        n = node["g_self"].shape[0]

        def hidden(key: str) -> torch.Tensor:  # E x H(g or m)
            return F.silu(
                node[f"{key}_self"].index_select(0, self_idx) + node[f"{key}_nbr"].index_select(0, nbr_idx)
            )

        gate = self._gate_logits(hidden("g"), p)  # E x H
        msg = hidden("m").unflatten(-1, (gate.shape[-1], -1))  # E x H x m
        a = weighted_softmax(gate, self_idx, weights.index_select(0, nbr_idx), n)
        agg = segment_sum(a.unsqueeze(-1) * msg, self_idx, n)  # n x H x m
        return agg.flatten(1) @ p["m_out"] + segment_sum(a, self_idx, n) @ p["m_b"]

    def _dense(
        self, node: dict[str, torch.Tensor], weights: torch.Tensor, c: int, k: int, p: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Head-summed update of ``c`` materials with ``k`` nodes each (all ``k x k`` pairs): ``ck x fea``.

        Without gradient recording the pair tensors are updated in place (no extra copies).
        """
        inplace = not torch.is_grad_enabled()

        def hidden(key: str) -> torch.Tensor:  # c x k(i) x k(j) x H(g or m)
            t = node[f"{key}_self"].view(c, k, 1, -1) + node[f"{key}_nbr"].view(c, 1, k, -1)
            return F.silu(t, inplace=inplace)

        gate = self._gate_logits(hidden("g"), p)  # c x k x k x H
        gate = gate - gate.detach().amax(2, keepdim=True)
        e = weights.view(c, 1, k, 1) * gate.exp()
        a = e / (e.sum(2, keepdim=True) + SOFTMAX_EPS)
        msg = hidden("m").unflatten(-1, (gate.shape[-1], -1))  # c x k x k x H x m
        msg = msg.mul_(a.unsqueeze(-1)) if inplace else msg * a.unsqueeze(-1)
        agg = msg.sum(2)  # c x k x H x m
        return (agg.flatten(2) @ p["m_out"] + a.sum(2) @ p["m_b"]).reshape(c * k, -1)
