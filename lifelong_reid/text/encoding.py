"""Running open_clip's text transformer on token embeddings.

Shapes: ``T`` texts, ``L`` context length (77 for CLIP), ``W`` text width, ``E`` joint embedding size, ``R``
read-out positions per text.
"""
from __future__ import annotations

import torch
from torch import nn


def text_width(clip_model) -> int:
    """``W``: the width of the token embeddings."""
    return clip_model.token_embedding.embedding_dim


def context_length(clip_model) -> int:
    """``L``: the text context length."""
    return clip_model.positional_embedding.shape[0]


def eot_positions(tokens: torch.Tensor) -> torch.Tensor:
    """``(T, L)`` token ids -> ``(T,)`` position of the end-of-text token (the largest id, as CLIP pools)."""
    return tokens.argmax(-1)


def encode_embeddings(clip_model, embeddings: torch.Tensor, read: torch.Tensor) -> torch.Tensor:
    """The CLIP text features of token embeddings, read at given positions.

    Adds the positional embedding, runs the (causal) transformer, ``ln_final``, gathers the positions
    ``read`` and applies the text projection, exactly as open_clip's ``CLIP.encode_text`` does at EOT.

    Args:
        clip_model: an open_clip ``CLIP`` (``positional_embedding``, ``transformer``, ``attn_mask``,
            ``ln_final``, ``text_projection``).
        embeddings: ``(T, L, W)`` token embeddings (``clip_model.token_embedding(ids)`` with learnable
            tokens spliced in).
        read: ``(T,)`` or ``(T, R)`` positions to read.

    Returns:
        ``(T, E)`` or ``(T, R, E)`` features (unnormalised).
    """
    x = embeddings + clip_model.positional_embedding.to(embeddings.dtype)
    x = clip_model.transformer(x, attn_mask=clip_model.attn_mask)
    x = clip_model.ln_final(x)
    rows = torch.arange(len(x), device=x.device)
    out = x[rows[:, None], read] if read.dim() == 2 else x[rows, read]
    proj = clip_model.text_projection
    if proj is None:
        return out
    return proj(out) if isinstance(proj, nn.Linear) else out @ proj
