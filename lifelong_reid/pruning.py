"""Magnitude pruning of the vision encoder with ``torch.nn.utils.prune`` (GraFT's pruning study: global L1
unstructured pruning of the attention and MLP weights, as in its history, commit 3e88808) and ``lreid prune``.

Which weights: every weight matrix of every block of every modality stack: the attention's input projection
(``in_proj_weight``, query/key/value) and output projection, and the two MLP layers. Embeddings, norms, biases,
heads and classifiers are kept.
"""
from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Optional

import torch
from torch import nn
from torch.nn.utils import prune

from lifelong_reid.errors import ConfigError


def prunable_weights(model) -> list[tuple[nn.Module, str]]:
    """``(module, parameter name)`` of every weight matrix in the encoder's blocks (all modality stacks)."""
    vis = model.visual
    out = []
    for stack in (vis.blocks, *vis.modality_blocks):
        for block in stack:
            for module in block.modules():
                if isinstance(module, nn.MultiheadAttention):
                    out.append((module, "in_proj_weight"))
                elif isinstance(module, nn.Linear):
                    out.append((module, "weight"))
    return out


def prune_encoder(model, amount: float) -> None:
    """Global L1 unstructured pruning: zero the ``amount`` fraction of the smallest-magnitude prunable weights
    still unpruned (``torch.nn.utils.prune.global_unstructured``). Repeated calls prune further (iterative
    pruning); the masks stay as ``*_mask`` buffers until :func:`make_permanent`.

    Raises:
        ConfigError: ``amount`` outside ``[0, 1)``.
    """
    if not 0.0 <= amount < 1.0:
        raise ConfigError(f"the pruned share must lie in [0, 1), got {amount}")
    if amount == 0.0:
        return
    prune.global_unstructured(prunable_weights(model), pruning_method=prune.L1Unstructured, amount=amount)
    for module in _attention_modules(model):
        if not hasattr(module, "_lreid_out_proj_refresh"):
            module._lreid_out_proj_refresh = module.register_forward_pre_hook(_refresh_out_proj)


def _attention_modules(model) -> list:
    vis = model.visual
    return [m for stack in (vis.blocks, *vis.modality_blocks) for block in stack for m in block.modules()
            if isinstance(m, nn.MultiheadAttention)]


def _refresh_out_proj(module, inputs):
    """``nn.MultiheadAttention`` reads ``out_proj.weight`` without calling ``out_proj``, so the pruning hook
    that recomputes ``weight = weight_orig * weight_mask`` must be run by the attention module itself
    (otherwise every step would reuse the first step's tensor and its freed graph)."""
    for hook in module.out_proj._forward_pre_hooks.values():
        hook(module.out_proj, inputs)


def make_permanent(model) -> None:
    """Fold the pruning masks into the weights (``prune.remove``): the model's state dict has its usual keys
    again, with zeros where weights were pruned."""
    for module, name in prunable_weights(model):
        if prune.is_pruned(module) and hasattr(module, f"{name}_mask"):
            prune.remove(module, name)
    for module in _attention_modules(model):
        handle = getattr(module, "_lreid_out_proj_refresh", None)
        if handle is not None:
            handle.remove()
            del module._lreid_out_proj_refresh


def sparsity(model) -> tuple[int, int]:
    """``(zeros, total)`` over the prunable weights (their current values, masks applied)."""
    zeros = total = 0
    for module, name in prunable_weights(model):
        w = getattr(module, name)
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros, total


def compressed_size(state: dict) -> tuple[int, int]:
    """``(bytes, zlib-compressed bytes)`` of ``torch.save(state)``: dense storage keeps the size, compression
    shows what the zeros could save."""
    buf = io.BytesIO()
    torch.save(state, buf)
    raw = buf.getvalue()
    return len(raw), len(zlib.compress(raw, 6))


def prune_checkpoint(checkpoint: str | Path, amount: float, output: Optional[str | Path] = None) -> dict:
    """Prune a run checkpoint's encoder to ``amount`` (one global L1 step), make it permanent and save it
    (atomically) as a checkpoint ``lreid eval`` / ``lreid search`` read like the original.

    Returns:
        ``{"output", "zeros", "total", "nonzero_params", "params", "bytes", "compressed_bytes",
        "source_bytes", "source_compressed_bytes"}``.

    Raises:
        CheckpointError: an unreadable checkpoint. ConfigError: ``amount`` outside ``[0, 1)``.
    """
    from lifelong_reid.inference import load_strategy
    from lifelong_reid.strategy.checkpoint import atomic_write_bytes, load_checkpoint

    path = Path(checkpoint)
    if not 0.0 <= amount < 1.0:
        raise ConfigError(f"--amount must lie in [0, 1), got {amount}")
    original = load_checkpoint(path)
    strategy = load_strategy(path, device="cpu", progress=False)
    prune_encoder(strategy.model, amount)
    make_permanent(strategy.model)
    state = dict(original)
    state["strategy"] = strategy.state_dict()
    state["pruned"] = {"amount": amount, "method": "global L1 unstructured", "source": str(path)}
    out = Path(output) if output else path.with_name(f"{path.stem}_pruned{round(amount * 100)}.pt")
    atomic_write_bytes(out, lambda f: torch.save(state, f))
    zeros, total = sparsity(strategy.model)
    params = sum(p.numel() for p in strategy.model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in strategy.model.parameters())
    size, packed = compressed_size(state)
    src_size, src_packed = compressed_size(original)
    return {"output": str(out), "zeros": zeros, "total": total, "nonzero_params": nonzero, "params": params,
            "bytes": out.stat().st_size, "compressed_bytes": packed, "source_bytes": path.stat().st_size,
            "source_compressed_bytes": src_packed}
