"""The CLIP image encoder run block by block, at the ReID input size.

Shapes: ``B`` batch, ``N`` tokens (1 CLS + ``gh*gw`` patches + extra tokens that plugins add), ``D``
the transformer width.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class VisionContext:
    """The state of one forward pass, handed to the per-layer hooks.

    Plugins add tokens (prompts, part or fusion tokens) with :meth:`add_tokens` and read or remove them by
    name; the encoder keeps ``tokens`` as ``[CLS, patches, extra...]``.

    Attributes:
        tokens: ``(B, N, D)`` current sequence.
        images: ``(B, 3, H, W)`` the input batch.
        grid: ``(gh, gw)`` patch grid.
        spans: ``{name: (start, end)}`` positions of named extra tokens.
        batch: the strategy's mini-batch dict (``pid``, ``camid``, ...) or ``None`` at inference.
    """

    def __init__(self, tokens: torch.Tensor, images: torch.Tensor, grid: tuple, batch: Optional[dict] = None):
        self.tokens, self.images, self.grid, self.batch = tokens, images, grid, batch
        self.spans: dict[str, tuple[int, int]] = {}
        self.num_base = tokens.shape[1]

    def add_tokens(self, name: str, extra: torch.Tensor) -> None:
        """Append ``extra`` ``(B, n, D)`` (or ``(n, D)``, broadcast over the batch) under ``name``.

        Raises:
            ValueError: ``name`` already present or width mismatch.
        """
        if name in self.spans:
            raise ValueError(f"tokens {name!r} already added; pop them first")
        if extra.dim() == 2:
            extra = extra.unsqueeze(0).expand(self.tokens.shape[0], -1, -1)
        if extra.shape[-1] != self.tokens.shape[-1]:
            raise ValueError(f"tokens {name!r} have width {extra.shape[-1]}, the encoder {self.tokens.shape[-1]}")
        start = self.tokens.shape[1]
        self.tokens = torch.cat([self.tokens, extra.to(self.tokens.dtype)], dim=1)
        self.spans[name] = (start, start + extra.shape[1])

    def get_tokens(self, name: str) -> torch.Tensor:
        """The ``(B, n, D)`` tokens added under ``name`` (as transformed by the blocks so far)."""
        s, e = self.spans[name]
        return self.tokens[:, s:e]

    def pop_tokens(self, name: str) -> torch.Tensor:
        """Remove the tokens added under ``name`` and return them ``(B, n, D)``."""
        s, e = self.spans.pop(name)
        out = self.tokens[:, s:e]
        self.tokens = torch.cat([self.tokens[:, :s], self.tokens[:, e:]], dim=1)
        n = e - s
        self.spans = {k: ((a - n, b - n) if a >= e else (a, b)) for k, (a, b) in self.spans.items()}
        return out


def interpolate_pos_embed(pos: torch.Tensor, old_grid: Sequence[int], new_grid: Sequence[int]) -> torch.Tensor:
    """Resize a ViT positional embedding ``(1 + gh*gw, D)`` to a new patch grid.

    The CLS row is kept; the grid is resized with bilinear interpolation, ``align_corners=False``, as
    CLIP-ReID's ``resize_pos_embed`` does (Li et al., AAAI 2023).
    """
    cls, grid = pos[:1], pos[1:]
    if tuple(old_grid) == tuple(new_grid):
        return pos.clone()
    grid = rearrange(grid, "(h w) d -> 1 d h w", h=old_grid[0], w=old_grid[1])
    grid = F.interpolate(grid.float(), size=tuple(new_grid), mode="bilinear", align_corners=False)
    return torch.cat([cls, rearrange(grid, "1 d h w -> (h w) d").to(pos.dtype)], dim=0)


class ReIDVisionEncoder(nn.Module):
    """open_clip's ``VisionTransformer`` at a ReID input size, run block by block.

    Args:
        visual: an open_clip ``VisionTransformer`` (its weights are reused; ``conv1``, the class and
            positional embeddings, ``ln_pre``, the blocks, ``ln_post`` and ``proj``).
        image_size: ``(H, W)`` in pixels.
        stride: patch stride in pixels (``None``: the patch size; smaller gives overlapping patches).

    Per-layer hooks (see ``hookspecs.py``) are called when :attr:`hook` is set (a pluggy hook relay).
    """

    def __init__(self, visual: nn.Module, image_size: Sequence[int], stride: Optional[int] = None):
        super().__init__()
        if not hasattr(visual, "transformer") or not hasattr(visual, "conv1"):
            raise TypeError("ReIDVisionEncoder needs an open_clip VisionTransformer (a ViT model)")
        self.conv1 = visual.conv1
        patch = self.conv1.kernel_size
        if stride is not None:
            self.conv1.stride = (stride, stride)
        st = self.conv1.stride
        self.image_size = tuple(image_size)
        self.grid = ((self.image_size[0] - patch[0]) // st[0] + 1, (self.image_size[1] - patch[1]) // st[1] + 1)
        old = visual.grid_size
        self.class_embedding = visual.class_embedding
        self.positional_embedding = nn.Parameter(
            interpolate_pos_embed(visual.positional_embedding.data, old, self.grid))
        self.ln_pre = visual.ln_pre
        self.blocks = visual.transformer.resblocks
        self.ln_post = visual.ln_post
        self.proj = visual.proj
        self.width = self.class_embedding.shape[0]
        self.output_dim = self.proj.shape[1] if self.proj is not None else self.width
        self.num_heads = self.blocks[0].attn.num_heads
        self.hook = None

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, 1 + gh*gw, D)`` tokens after ``ln_pre``."""
        if tuple(images.shape[-2:]) != self.image_size:
            raise ValueError(f"images are {tuple(images.shape[-2:])} but the encoder was built for "
                             f"{self.image_size} (set image_size in the config)")
        x = rearrange(self.conv1(images), "b d h w -> b (h w) d")
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.ln_pre(x)

    def _attention_mask(self, index: int, ctx: VisionContext) -> Optional[torch.Tensor]:
        masks = [m for m in self.hook.lreid_vision_attention_mask(layer_index=index, context=ctx, encoder=self)
                 if m is not None]
        if not masks:
            return None
        mask = sum(masks)
        if mask.dim() == 3:  # (B, N, N) -> (B*heads, N, N) as nn.MultiheadAttention expects
            mask = mask.repeat_interleave(self.num_heads, dim=0)
        return mask.to(ctx.tokens.dtype)

    def forward(self, images: torch.Tensor, batch: Optional[dict] = None) -> VisionContext:
        """Encode ``images``; returns the final :class:`VisionContext` (``tokens`` after the last block,
        before ``ln_post``)."""
        ctx = VisionContext(self.embed(images), images, self.grid, batch)
        for i, block in enumerate(self.blocks):
            mask = None
            if self.hook is not None:
                self.hook.lreid_vision_block_start(layer_index=i, context=ctx, encoder=self)
                mask = self._attention_mask(i, ctx)
            ctx.tokens = block(ctx.tokens, attn_mask=mask)
            if self.hook is not None:
                self.hook.lreid_vision_block_end(layer_index=i, context=ctx, encoder=self)
        return ctx

    def project(self, cls_tokens: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` -> ``(B, output_dim)``: ``ln_post`` then the CLIP projection (CLIP's image embedding)."""
        x = self.ln_post(cls_tokens)
        return x @ self.proj if self.proj is not None else x
