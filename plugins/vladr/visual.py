"""Per-attribute visual features ``v_k``: ``K`` learnable queries cross-attend to the image encoder's
patch tokens (paper, ICAR: "per-attribute visual feature extraction").

Shapes: ``B`` images, ``N`` patch tokens, ``W`` vision width, ``E`` joint embedding size, ``K`` attributes.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class AttributeQueries(nn.Module):
    """``K`` queries, one multi-head cross-attention over the tokens, layer norm, and the CLIP visual
    projection ``(W, E)`` so that ``v_k`` lives where the text attribute features ``t_k`` do.

    Args:
        width: vision width ``W``. num_attributes: ``K``. heads: attention heads (must divide ``W``).
        projection: ``(W, E)`` tensor (the CLIP visual ``proj``), used as is (shared with the encoder).
    """

    def __init__(self, width: int, num_attributes: int, heads: int, projection: torch.Tensor | None):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_attributes, width) * 0.02)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self._projection = [projection]  # shared parameter, owned by the encoder

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, 1 + N, W)`` encoder tokens (CLS first) -> ``(B, K, E)`` attribute features."""
        patches = tokens[:, 1:]
        q = self.queries.unsqueeze(0).expand(len(tokens), -1, -1)
        out, _ = self.attention(q, patches, patches, need_weights=False)
        out = self.norm(out + q)
        proj = self._projection[0]
        return out @ proj if proj is not None else out
