"""The CLIP image encoder run block by block, at the ReID input size, with the vision hook points.

Shapes: ``B`` batch, ``M`` modalities per sample (1 for plain images), ``N`` tokens (1 CLS + ``G = gh*gw``
patches + extra tokens that plugins add), ``D`` the transformer width, ``L`` blocks.

One forward pass, and where plugins come in (``hookspecs.py``):

1. patch embedding, CLS token, positional embedding -> ``lreid_vision_embed_tokens`` (add tokens with their
   own positional embedding, camera/view embeddings) -> ``ln_pre``;
2. for each block ``i``: ``lreid_vision_block_start`` (deep prompts) -> ``lreid_vision_attention_mask`` ->
   the block (with any parallel adapters, :meth:`ReIDVisionEncoder.add_adapter`) ->
   ``lreid_vision_exchange`` (only for ``M > 1``: cross-modal exchange on ``(B, M, N, D)`` views) ->
   ``lreid_vision_block_end``.

Multi-modal tuples ``(B, M, 3, H, W)`` run as ``B * M`` sequences through one shared stack of blocks, or
through one stack per modality after :meth:`ReIDVisionEncoder.split_modality_stacks` (GraFT's modality
encoders); either way the :class:`~lifelong_reid.models.context.VisionContext` keeps the modality axis.
"""
from __future__ import annotations

import copy
from typing import Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from lifelong_reid.errors import ConfigError
from lifelong_reid.models.adapters import BLOCK_PARTS, BRANCHES, INPUTS, AdapterSpec, run_block
from lifelong_reid.models.context import VisionContext


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

    The vision hooks (see ``hookspecs.py``) are called when :attr:`hook` is set (a pluggy hook relay; the
    strategy sets it). :attr:`hook` is not copied by ``copy.deepcopy``, so a copy of the encoder runs
    without plugins.

    Raises:
        TypeError: ``visual`` is not a ViT.
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
        #: Stacks of modalities 1..M-1 when the encoder runs one stack per modality (modality 0 uses
        #: :attr:`blocks`); empty for one shared stack.
        self.modality_blocks = nn.ModuleList()
        #: The first block that has per-modality copies (blocks before it stay shared; 0 = every block).
        self.split_from = 0
        #: ``{adapter name: {str(layer): module}}`` (see :meth:`add_adapter`).
        self.adapters = nn.ModuleDict()
        self.adapter_specs: dict[str, AdapterSpec] = {}
        self._layer_adapters: dict[int, list] = {}
        self.hook = None

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state["hook"] = None  # the plugin relay holds modules; a copy runs without plugins
        state["_layer_adapters"] = {}
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._index_adapters()

    # ------------------------------------------------------------------ structure
    @property
    def num_layers(self) -> int:
        """``L``: blocks per stack."""
        return len(self.blocks)

    @property
    def num_stacks(self) -> int:
        """1 for a shared stack, ``M`` after :meth:`split_modality_stacks`."""
        return 1 + len(self.modality_blocks)

    def stack(self, modality: int = 0):
        """The ``L`` blocks that encode modality ``modality``, in order (all modalities share stack 0 unless
        split; after a split from block ``s`` the blocks before ``s`` are the shared ones)."""
        if modality == 0 or not len(self.modality_blocks):
            return self.blocks
        return [*self.blocks[:self.split_from], *self.modality_blocks[modality - 1]]

    def split_modality_stacks(self, num_modalities: int, from_layer: int = 0) -> None:
        """Give each of ``num_modalities`` modalities its own copy of blocks ``from_layer .. L-1``
        (initialised from the shared ones); the blocks before ``from_layer`` stay shared. GraFT's per-modality
        encoders: ``from_layer=0`` separates every block; ``from_layer=L-k`` is a shared backbone of ``L-k``
        blocks followed by ``k``-block modality encoders. Embedding, ``ln_pre``, ``ln_post`` and ``proj`` stay
        shared. Calling it again with the same arguments does nothing.

        Raises:
            ConfigError: the encoder was already split otherwise, or ``from_layer`` is not a block index.
        """
        if num_modalities < 1:
            raise ConfigError(f"num_modalities must be >= 1, got {num_modalities}")
        if not 0 <= from_layer < self.num_layers:
            raise ConfigError(f"from_layer must be a block index in [0, {self.num_layers}), got {from_layer}")
        if self.num_stacks == num_modalities and (num_modalities == 1 or self.split_from == from_layer):
            return
        if self.num_stacks != 1:
            raise ConfigError(f"the encoder already has {self.num_stacks} modality stacks from block {self.split_from}, "
                              f"not {num_modalities} from block {from_layer}")
        self.modality_blocks = nn.ModuleList(nn.ModuleList(copy.deepcopy(b) for b in self.blocks[from_layer:])
                                             for _ in range(num_modalities - 1))
        self.modality_blocks.to(self.positional_embedding.device)
        self.split_from = from_layer

    # ------------------------------------------------------------------ adapters
    def add_adapter(self, name: str, factory: Union[Callable[[int], nn.Module], nn.Module], *,
                    branch: str = "mlp", input: str = "block", layers: Optional[Sequence[int]] = None,
                    scale: float = 1.0) -> nn.ModuleDict:
        """Insert a parallel adapter (see :mod:`lifelong_reid.models.adapters`) into blocks ``layers``.

        Args:
            name: unique name; the modules are ``encoder.adapters[name][str(layer)]``.
            factory: ``layer -> nn.Module`` building one adapter per layer (``(S, N, D) -> (S, N, D)``), or
                one module shared by every layer.
            branch: ``"mlp"`` or ``"attn"``. input: ``"block"`` (before the branch's layer norm) or
                ``"norm"`` (after it). layers: block indices (default: all). scale: ``s``.

        Returns:
            The ``{str(layer): module}`` dict (already moved to the encoder's device).

        Raises:
            ConfigError: a name already used, an unknown branch / input, a layer out of range, or blocks
                that do not expose ``ln_1, attention, ls_1, ln_2, mlp, ls_2``.
        """
        if name in self.adapters:
            raise ConfigError(f"adapter {name!r} already added; remove_adapter({name!r}) first")
        if branch not in BRANCHES or input not in INPUTS:
            raise ConfigError(f"adapter {name!r}: branch must be one of {BRANCHES} and input one of {INPUTS}, "
                              f"got {branch!r}, {input!r}")
        layers = tuple(range(self.num_layers)) if layers is None else tuple(int(i) for i in layers)
        bad = [i for i in layers if not 0 <= i < self.num_layers]
        if bad:
            raise ConfigError(f"adapter {name!r}: layers {bad} out of range (the encoder has {self.num_layers})")
        missing = [p for p in BLOCK_PARTS if not hasattr(self.blocks[0], p)]
        if missing:
            raise ConfigError(f"adapter {name!r}: the encoder's blocks ({type(self.blocks[0]).__name__}) lack "
                              f"{missing}; parallel adapters need open_clip's ResidualAttentionBlock")
        shared = factory if isinstance(factory, nn.Module) else None
        modules = nn.ModuleDict({str(i): (shared if shared is not None else factory(i)) for i in layers})
        self.adapters[name] = modules.to(self.positional_embedding.device)
        self.adapter_specs[name] = AdapterSpec(name, branch, input, float(scale), layers)
        self._index_adapters()
        return self.adapters[name]

    def remove_adapter(self, name: str) -> None:
        """Remove adapter ``name`` (its parameters leave the model)."""
        del self.adapters[name]
        del self.adapter_specs[name]
        self._index_adapters()

    def _index_adapters(self) -> None:
        self._layer_adapters = {}
        for name, spec in getattr(self, "adapter_specs", {}).items():
            for i in spec.layers:
                self._layer_adapters.setdefault(i, []).append((spec, self.adapters[name][str(i)]))

    # ------------------------------------------------------------------ forward
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``(S, 3, H, W)`` -> ``(S, 1 + G, D)``: patches, CLS and positional embedding, before ``ln_pre``.

        Raises:
            ValueError: the images are not the size the encoder was built for.
        """
        if tuple(images.shape[-2:]) != self.image_size:
            raise ValueError(f"images are {tuple(images.shape[-2:])} but the encoder was built for "
                             f"{self.image_size} (set image_size in the config)")
        x = rearrange(self.conv1(images), "b d h w -> b (h w) d")
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        return torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)

    def _attention_mask(self, index: int, ctx: VisionContext) -> Optional[torch.Tensor]:
        masks = [m for m in self.hook.lreid_vision_attention_mask(layer_index=index, context=ctx, encoder=self)
                 if m is not None]
        if not masks:
            return None
        n, b, m = ctx.num_tokens, ctx.batch_size, ctx.num_modalities
        full = []
        for mask in masks:
            if mask.shape[-2:] != (n, n):
                raise ValueError(f"layer {index}: an attention mask is {tuple(mask.shape)}, the sequence has {n} "
                                 "tokens (N, N); build masks from context.num_tokens")
            if mask.dim() == 2:
                mask = mask.expand(b * m, n, n)
            elif mask.dim() == 3 and mask.shape[0] == b and m > 1:
                mask = mask.repeat_interleave(m, dim=0)
            elif mask.dim() == 4:
                mask = mask.reshape(b * m, n, n)
            full.append(mask)
        mask = sum(full)  # (B*M, N, N) -> (B*M*heads, N, N) as nn.MultiheadAttention expects
        return mask.repeat_interleave(self.num_heads, dim=0).to(ctx.tokens.dtype)

    def _block(self, index: int, x: torch.Tensor, mask: Optional[torch.Tensor], ctx: VisionContext) -> torch.Tensor:
        adapters = self._layer_adapters.get(index)
        if self.num_stacks == 1:
            block = self.blocks[index]
            return run_block(block, x, mask, adapters) if adapters else block(x, attn_mask=mask)
        if self.num_stacks != ctx.num_modalities:
            raise ConfigError(f"the encoder has {self.num_stacks} modality stacks but the batch has "
                              f"{ctx.num_modalities} modalities per sample")
        b, m = ctx.batch_size, ctx.num_modalities
        xv = x.view(b, m, *x.shape[1:])
        mv = None if mask is None else mask.view(b, m, *mask.shape[1:])
        outs = []
        for j in range(m):
            block = self.stack(j)[index]
            mj = None if mv is None else mv[:, j].reshape(-1, *mask.shape[1:])
            xj = xv[:, j]
            outs.append(run_block(block, xj, mj, adapters) if adapters else block(xj, attn_mask=mj))
        return torch.stack(outs, dim=1).flatten(0, 1)

    def forward(self, images: torch.Tensor, batch=None) -> VisionContext:
        """Encode ``(B, 3, H, W)`` images or ``(B, M, 3, H, W)`` tuples.

        Returns:
            the final :class:`VisionContext` (``tokens`` after the last block, before ``ln_post``).
        """
        m = images.shape[1] if images.dim() == 5 else 1
        flat = images.flatten(0, 1) if images.dim() == 5 else images
        ctx = VisionContext(self.embed(flat), images, self.grid, batch, num_modalities=m)
        hook = self.hook
        if hook is not None:
            hook.lreid_vision_embed_tokens(context=ctx, encoder=self)
        ctx.tokens = self.ln_pre(ctx.tokens)
        ctx.stage = "blocks"
        for i in range(self.num_layers):
            ctx.layer_index = i
            mask = None
            if hook is not None:
                hook.lreid_vision_block_start(layer_index=i, context=ctx, encoder=self)
                mask = self._attention_mask(i, ctx)
            ctx.tokens = self._block(i, ctx.tokens, mask, ctx)
            if hook is not None:
                if m > 1:
                    hook.lreid_vision_exchange(layer_index=i, context=ctx, encoder=self)
                hook.lreid_vision_block_end(layer_index=i, context=ctx, encoder=self)
        ctx.stage = "done"
        return ctx

    def project(self, cls_tokens: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(..., output_dim)``: ``ln_post`` then the CLIP projection (CLIP's image embedding)."""
        x = self.ln_post(cls_tokens)
        return x @ self.proj if self.proj is not None else x
