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
