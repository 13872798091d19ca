"""Sparse mixture of experts with noisy top-k gating (Shazeer et al., 2017,
"Outrageously Large Neural Networks") and the Switch Transformer load-balancing loss
(Fedus et al., 2021): ``aux = alpha * N * sum_i f_i * P_i``.

Why this pair: noisy top-k keeps every sample on exactly ``k`` experts while the noise
(training only) lets rarely chosen experts get tried; the Switch loss is one short
differentiable term (through ``P_i``) that is smallest, ``alpha``, for uniform routing
and grows to ``alpha * N / k`` when every sample goes to the same ``k`` experts.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class RoutingInfo:
    """What the router did for one batch; everything a plot or a log needs.

    gates:        (B, N) combine weights, exactly ``k`` non-zero per row, rows sum to 1
    probs:        (B, N) softmax of the clean (noise-free) gate logits over all experts
    topk_indices: (B, k) chosen experts, best first
    counts:       (N,)   int64, how many samples chose each expert (sums to B*k)
    aux_loss:     ()     the Switch load-balancing loss (already scaled by ``alpha``)
    """

    gates: Tensor
    probs: Tensor
    topk_indices: Tensor
    counts: Tensor
    aux_loss: Tensor

    def detach(self) -> "RoutingInfo":
        parts = (self.gates, self.probs, self.topk_indices, self.counts, self.aux_loss)
        return RoutingInfo(*(t.detach() for t in parts))


def switch_load_balancing_loss(probs: Tensor, topk_indices: Tensor, alpha: float = 1.0) -> Tensor:
    """Switch Transformer auxiliary loss ``alpha * N * sum_i f_i * P_i``.

    ``f_i`` is the fraction of the ``B*k`` routing slots that went to expert ``i`` (not
    differentiable), ``P_i`` the mean router probability of expert ``i`` (differentiable).
    Uniform routing gives ``alpha``; all samples on the same ``k`` experts with their
    probability mass there gives ``alpha * N / k``.
    """
    num_experts = probs.shape[-1]
    slots = F.one_hot(topk_indices, num_experts).to(probs.dtype).sum(dim=1)  # (B, N)
    f = slots.mean(dim=0) / topk_indices.shape[-1]
    p = probs.mean(dim=0)
    return alpha * num_experts * torch.sum(f * p)


def top_k_gates(logits: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """(B, N) gate matrix with exactly ``k`` non-zero entries per row (softmax over the
    top-k logits) and the (B, k) indices of those experts."""
    top_vals, top_idx = logits.topk(k, dim=-1)
    # clamp: a logit gap > ~100 would underflow to 0 and break "exactly k non-zero"
    top_gates = torch.softmax(top_vals, dim=-1).clamp_min(1e-9)
    # softmax runs in fp32 under autocast while fp16 logits stay fp16: gates keep the softmax's dtype
    return torch.zeros_like(logits, dtype=top_gates.dtype).scatter(-1, top_idx, top_gates), top_idx


def dense_mixture(x: Tensor, gates: Tensor, experts: Iterable[nn.Module]) -> Tensor:
    """``sum_e gates[:, e] * expert_e(x)`` with every expert on every row: a fixed graph
    (no data-dependent shapes), equal to the sparse sum since other gates are exactly 0."""
    out = torch.zeros_like(x)
    for e, expert in enumerate(experts):
        out = out + gates[:, e:e + 1] * expert(x)
    return out


class ResidualMLPExpert(nn.Module):
    """``x + MLP(LayerNorm(x))``: an expert that starts close to identity, so a
    freshly added expert cannot wreck the features it receives."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class DynamicTopKMoE(nn.Module):
    """Noisy top-k mixture of residual MLP experts.

    Gate: an MLP gives clean logits ``h(x)``; in training mode Gaussian noise scaled by a
    learned ``softplus(W_noise x) * noise_std`` is added (Shazeer et al. 2017, eq. 4);
    in eval mode there is no noise, so routing is deterministic. The top ``k`` noisy
    logits are soft-maxed among themselves (the others get weight exactly 0) and the
    output is ``sum_{i in topk} g_i * expert_i(x)``; experts only run on the samples
    routed to them.
    """

    def __init__(
        self,
        dim: int,
        num_experts: int = 8,
        k: int = 2,
        expert_hidden: int = 1024,
        gate_hidden: int = 256,
        noise_std: float = 1.0,
        aux_loss_weight: float = 0.01,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 1 <= k <= num_experts:
            raise ValueError(f"k must be in [1, num_experts={num_experts}], got {k}")
        self.num_experts, self.k = num_experts, k
        self.noise_std, self.aux_loss_weight = noise_std, aux_loss_weight
        self.gate = nn.Sequential(nn.Linear(dim, gate_hidden), nn.ReLU(), nn.Linear(gate_hidden, num_experts))
        self.noise = nn.Linear(dim, num_experts)
        nn.init.zeros_(self.noise.weight)
        nn.init.zeros_(self.noise.bias)  # softplus(0)=0.69: starts with moderate noise
        self.experts = nn.ModuleList(ResidualMLPExpert(dim, expert_hidden, dropout) for _ in range(num_experts))

    def route(self, x: Tensor) -> RoutingInfo:
        """Gate values for ``x`` (B, dim) without running the experts."""
        clean = self.gate(x)
        logits = clean
        if self.training and self.noise_std > 0:
            scale = F.softplus(self.noise(x)) * self.noise_std
            logits = clean + torch.randn_like(clean) * scale
        gates, top_idx = top_k_gates(logits, self.k)
        probs = torch.softmax(clean, dim=-1)
        counts = torch.bincount(top_idx.reshape(-1), minlength=self.num_experts)
        aux = switch_load_balancing_loss(probs, top_idx, self.aux_loss_weight)
        return RoutingInfo(gates=gates, probs=probs, topk_indices=top_idx, counts=counts, aux_loss=aux)

    def forward(self, x: Tensor) -> tuple[Tensor, RoutingInfo]:
        routing = self.route(x)
        if not self.training:  # every expert on every row: the same sum, and the function exporters trace
            return dense_mixture(x, routing.gates, self.experts), routing
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows = (routing.topk_indices == e).any(dim=-1).nonzero(as_tuple=True)[0]
            if rows.numel() == 0:
                continue
            out = out.index_add(0, rows, routing.gates[rows, e, None] * expert(x[rows]))
        return out, routing
