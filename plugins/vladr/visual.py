"""Per-attribute visual features ``v_k``: ``K`` learnable queries cross-attend to the image encoder's
patch tokens (paper, ICAR: "per-attribute visual feature extraction").

Shapes: ``B`` images, ``N`` patch tokens, ``W`` vision width, ``E`` joint embedding size, ``K`` attributes.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class AttributeQueries(nn.Module):
    """``K`` queries, one multi-head cross-attention over the tokens, layer norm, and a projection
    ``(W, E)`` initialised from the CLIP visual projection so that ``v_k`` starts where the text attribute
    features ``t_k`` live. The projection is the module's own copy: the attribute losses must not move the
    encoder's projection, which the retrieval feature uses.

    Args:
        width: vision width ``W``. num_attributes: ``K``. heads: attention heads (must divide ``W``).
        projection: ``(W, E)`` initial projection (the CLIP visual ``proj``), copied; ``None``: identity.
    """

    def __init__(self, width: int, num_attributes: int, heads: int, projection: torch.Tensor | None):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_attributes, width) * 0.02)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.projection = nn.Parameter(projection.detach().clone()) if projection is not None else None

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """``(B, N, W)`` patch tokens (the model's ``patch_tokens`` output) -> ``(B, K, E)`` attribute
        features."""
        q = self.queries.unsqueeze(0).expand(len(patches), -1, -1)
        out, _ = self.attention(q, patches, patches, need_weights=False)
        out = self.norm(out + q)
        return out @ self.projection if self.projection is not None else out


class RegionCrossAttention(nn.Module):
    """The released code's region features (``reid/models/CrossAttention.py`` and the ``region_proj`` of
    ``make_model_clipreid.py``): ``K`` learnable queries (normal, std 0.02) attend, through their own query / key /
    value projections and ``heads`` heads, to the image encoder's tokens after ``ln_post`` and the visual
    projection (``(B, N, E)``); the attended values go through an output projection and a ``E -> E`` region
    projection, then are L2-normalised. No residual connection and no layer norm, unlike
    :class:`AttributeQueries`.

    Args:
        dim: ``E``, the joint embedding size (512 for ViT-B-16). num_queries: ``K``. heads: must divide ``dim``.
    """

    def __init__(self, dim: int, num_queries: int = 4, heads: int = 8):
        super().__init__()
        if dim % heads:
            raise ValueError(f"region attention: {heads} heads do not divide the embedding size {dim}")
        self.heads = heads
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.region_proj = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, E) -> (B, H, L, E / H)
        b, n, e = x.shape
        return x.view(b, n, self.heads, e // self.heads).transpose(1, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, N, E)`` projected tokens -> ``(B, K, E)`` unit-norm region features."""
        b = len(tokens)
        q = self._split(self.q_proj(self.queries).unsqueeze(0).expand(b, -1, -1))
        out = torch.nn.functional.scaled_dot_product_attention(q, self._split(self.k_proj(tokens)),
                                                               self._split(self.v_proj(tokens)))
        out = self.out_proj(out.transpose(1, 2).reshape(b, -1, tokens.shape[-1]))
        return torch.nn.functional.normalize(self.region_proj(out), dim=-1)
