"""MUVA's Adaptively Masked Multi-Head Self-Attention (AM-MSA, Sec. 3.2): Residual Mask Prediction (RMP,
Eq. 5) in a bypass branch of every block, and Mask Gating (MG, Eq. 6-7) into the block's attention.

Shapes: ``S`` sequences, ``P`` local (part) tokens, ``G`` patches, ``N`` tokens per sequence, ``D`` encoder
width, ``L`` layers.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)`` (CLIP's activation, used in MUVA's RMP MLP)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class PartCrossAttention(nn.Module):
    """Cross-attention from the local tokens (queries) to the patches (keys, values) as MUVA's code
    (``model/ammsa.py``): bias-free ``q, k, v`` projections ``D -> D``, ``heads`` heads with scale
    ``(D / heads) ** -0.5``, an output projection with bias.

    Raises:
        ValueError: ``width`` not divisible by ``heads``.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"the RMP cross-attention needs the encoder width ({width}) divisible by its heads "
                             f"({heads}); set muva.rmp_heads to a divisor")
        self.heads, self.scale = heads, (width // heads) ** -0.5
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(width, width, bias=False)
        self.v = nn.Linear(width, width, bias=False)
        self.out = nn.Linear(width, width)

    def forward(self, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """``(S, P, D)`` queries, ``(S, G, D)`` memory -> ``(S, P, D)``."""
        s, p, d = query.shape
        h = self.heads
        q = self.q(query).view(s, p, h, d // h).transpose(1, 2)
        k = self.k(memory).view(s, -1, h, d // h).transpose(1, 2)
        v = self.v(memory).view(s, -1, h, d // h).transpose(1, 2)
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(-1)
        return self.out((attn @ v).transpose(1, 2).reshape(s, p, d))


class MaskPredictor(nn.Module):
    """One layer's RMP (Eq. 5): ``r' = CrossAttn(LN(r), LN(F)) + r``; ``Delta M = MLP(LN(r'))`` with
    ``MLP = Linear(D -> hidden), QuickGELU, Linear(hidden -> G)`` (weights trunc-normal 0.02, biases 0, as
    the code). The caller adds ``Delta M`` to the previous layer's logits."""

    def __init__(self, width: int, num_patches: int, heads: int = 8, hidden: int = 128):
        super().__init__()
        self.norm_r, self.norm_f, self.norm_out = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = PartCrossAttention(width, heads)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), QuickGELU(), nn.Linear(hidden, num_patches))
        for layer in (self.mlp[0], self.mlp[2]):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)

    def forward(self, local: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """``(S, P, D)`` local tokens, ``(S, G, D)`` patch tokens -> ``(S, P, G)`` logit increment."""
        r = self.attn(self.norm_r(local), self.norm_f(patches)) + local
        return self.mlp(self.norm_out(r))


class ResidualMaskPrediction(nn.Module):
    """One :class:`MaskPredictor` per block; ``M_l = Delta M_l + M_{l-1}`` (Eq. 5), logits kept per layer."""

    def __init__(self, width: int, num_patches: int, layers: int, heads: int = 8, hidden: int = 128):
        super().__init__()
        self.predictors = nn.ModuleList(MaskPredictor(width, num_patches, heads, hidden) for _ in range(layers))

    def forward(self, layer: int, local: torch.Tensor, patches: torch.Tensor,
                previous: Optional[torch.Tensor]) -> torch.Tensor:
        """Logits ``M_l`` ``(S, P, G)`` of block ``layer`` from its input tokens and ``M_{l-1}`` (``None`` at 0)."""
        step = self.predictors[layer](local, patches)
        return step if previous is None else previous + step


def gate_attention_mask(allowed: torch.Tensor, num_tokens: int, local: tuple, patches: tuple, *,
                        symmetric: bool = True, dtype=torch.float32) -> torch.Tensor:
    """Mask Gating (Eq. 6-7): an additive ``(S, N, N)`` attention mask (0 allowed, ``-inf`` blocked; row =
    query, column = key) from ``(S, P, G)`` bool ``allowed`` (patch ``g`` belongs to part ``p``).

    ``symmetric=True`` (the code, ``model/ammsa.py``): local token ``p`` attends to CLS, itself and its
    allowed patches (not to the other local tokens), and patch ``g`` attends to local token ``p`` only if
    allowed (the transpose); CLS and the patches attend to everything else. ``symmetric=False`` (the paper,
    Eq. 7, ``Pad(A)`` with zeros): only the local tokens' patch columns are gated. A part with no allowed
    patch keeps CLS (and, symmetric, itself), so its softmax row is never empty (no NaN).

    Args:
        allowed: ``(S, P, G)`` bool. num_tokens: ``N``. local, patches: ``(start, end)`` spans.
    """
    s, p, _ = allowed.shape
    (ls, le), (ps, pe) = local, patches
    gate = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, float("-inf"))
    mask = torch.zeros(s, num_tokens, num_tokens, dtype=dtype, device=allowed.device)
    mask[:, ls:le, ps:pe] = gate
    if symmetric:
        block = torch.full((p, p), float("-inf"), dtype=dtype, device=allowed.device)
        block.fill_diagonal_(0.0)
        mask[:, ls:le, ls:le] = block
        mask[:, ps:pe, ls:le] = gate.transpose(1, 2)
    return mask
