"""Parallel adapters inside the encoder's transformer blocks.

A block of CLIP's image encoder computes ``x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))``. A *parallel
adapter* adds a small module's output next to one of the two branches:

- ``branch="attn"``: ``x = x + attn(ln_1(x)) + s * A(u)``;
- ``branch="mlp"``: ``x = x + mlp(ln_2(x)) + s * A(u)``;

where the adapter's input ``u`` is the branch's input before its layer norm (``input="block"``; MambaPro's
Parallel Feed-Forward Adapter, Eq. 3 of the paper, reads the hidden state after the attention residual) or
after it (``input="norm"``; AdaptFormer's form, Chen et al. NeurIPS 2022). Adapters are registered on the
encoder with :meth:`~lifelong_reid.models.ReIDVisionEncoder.add_adapter` (typically in ``lreid_adapt_model``)
and live in ``encoder.adapters[name][str(layer)]``, so they are saved and loaded with the model.

Shapes: ``(S, N, D)`` token sequences in, the same out.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

BRANCHES = ("attn", "mlp")
INPUTS = ("block", "norm")
#: What a block needs for adapters to be inserted (open_clip's ``ResidualAttentionBlock``).
BLOCK_PARTS = ("ln_1", "attention", "ls_1", "ln_2", "mlp", "ls_2")


@dataclass(frozen=True)
class AdapterSpec:
    """Where adapter ``name`` sits: ``branch`` (``"attn"``/``"mlp"``), ``input`` (``"block"``/``"norm"``),
    ``scale`` ``s`` and the layers it is in."""

    name: str
    branch: str
    input: str
    scale: float
    layers: tuple


def run_block(block: nn.Module, x, attn_mask, adapters) -> "torch.Tensor":  # noqa: F821
    """One open_clip ``ResidualAttentionBlock`` with parallel adapters.

    Args:
        block: the block (must have ``ln_1, attention, ls_1, ln_2, mlp, ls_2``).
        x: ``(S, N, D)`` tokens. attn_mask: additive mask or ``None``.
        adapters: ``[(AdapterSpec, module), ...]`` for this layer.

    Returns:
        ``(S, N, D)``; equal to ``block(x, attn_mask=attn_mask)`` when every adapter outputs zero.
    """
    h = block.ln_1(x)
    a = block.ls_1(block.attention(q_x=h, attn_mask=attn_mask))
    for spec, module in adapters:
        if spec.branch == "attn":
            a = a + spec.scale * module(x if spec.input == "block" else h)
    x = x + a
    h = block.ln_2(x)
    m = block.ls_2(block.mlp(h))
    for spec, module in adapters:
        if spec.branch == "mlp":
            m = m + spec.scale * module(x if spec.input == "block" else h)
    return x + m


def bottleneck_adapter(width: int, hidden: int, act: type = nn.GELU, zero_init: bool = True) -> nn.Sequential:
    """``Linear(D -> hidden), act, Linear(hidden -> D)``: the usual adapter body (MambaPro's PFA uses
    ``hidden = 2 D`` and QuickGELU). With ``zero_init`` the output layer starts at zero, so inserting the
    adapter leaves the encoder's function unchanged at the first step."""
    body = nn.Sequential(nn.Linear(width, hidden), act(), nn.Linear(hidden, width))
    nn.init.trunc_normal_(body[0].weight, std=0.02)
    nn.init.zeros_(body[0].bias)
    if zero_init:
        nn.init.zeros_(body[2].weight)
    else:
        nn.init.trunc_normal_(body[2].weight, std=0.02)
    nn.init.zeros_(body[2].bias)
    return body
