"""Magnitude pruning of the vision encoder with ``torch.nn.utils.prune`` (GraFT's pruning study: global L1
unstructured pruning of the attention and MLP weights, as in its history, commit 3e88808) and ``lreid prune``.

Which weights: every weight matrix of every block of every modality stack: the attention's input projection
(``in_proj_weight``, query/key/value) and output projection, and the two MLP layers. Embeddings, norms, biases,
heads and classifiers are kept.

Iterative pruning (:func:`iterative_prune`): prune to a schedule of growing sparsities, fine-tuning on an
experience after each round (GraFT's history: 0.2 of what remains per round, one fine-tuning pass after each).
"""
from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from lifelong_reid.errors import ConfigError


def _block_modules(model):
    """Every module inside the encoder's blocks, over all modality stacks (each block once)."""
    vis = model.visual
    for stack in (vis.blocks, *vis.modality_blocks):
        for block in stack:
            yield from block.modules()


def prunable_weights(model) -> list[tuple[nn.Module, str]]:
    """``(module, parameter name)`` of every weight matrix in the encoder's blocks (all modality stacks)."""
    out = []
    for module in _block_modules(model):
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
    return [m for m in _block_modules(model) if isinstance(m, nn.MultiheadAttention)]


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


def pruned_share(model) -> float:
    """The share of the prunable weights that are zero now (``0..1``)."""
    zeros, total = sparsity(model)
    return zeros / max(total, 1)


def exported_state(model) -> dict:
    """The model's state dict as :func:`make_permanent` would leave it (each pruned ``W_orig * W_mask`` under
    ``W``, no masks), without changing the model: what a pruned checkpoint stores."""
    state = model.state_dict()
    out = {}
    for key, value in state.items():
        if key.endswith("_mask"):
            continue
        if key.endswith("_orig"):
            out[key[:-5]] = value * state[key[:-5] + "_mask"]
        else:
            out[key] = value
    return out


def prune_schedule(amount: float, rounds: int) -> list[float]:
    """Cumulative sparsity after each of ``rounds`` rounds that each prune the same share of what remains,
    ending at ``amount``: ``1 - (1 - amount) ** (r / rounds)`` (``0.9`` in 3 rounds: 0.536, 0.785, 0.9).

    Raises:
        ConfigError: ``amount`` outside ``[0, 1)`` or ``rounds < 1``.
    """
    if not 0.0 <= amount < 1.0:
        raise ConfigError(f"the pruned share must lie in [0, 1), got {amount}")
    if rounds < 1:
        raise ConfigError(f"rounds must be >= 1, got {rounds}")
    return [1 - (1 - amount) ** (r / rounds) for r in range(1, rounds + 1)]


def finetune(strategy, experience, epochs: int) -> None:
    """Train ``strategy`` on ``experience`` for ``epochs`` epochs with no warm-up (a fresh optimizer at the
    base rate), then restore its epoch settings."""
    config = strategy.config
    saved = config.epochs, strategy.train_epochs, config.warmup_epochs
    config.epochs, strategy.train_epochs, config.warmup_epochs = epochs, epochs, 0
    try:
        strategy.train(experience)
    finally:
        config.epochs, strategy.train_epochs, config.warmup_epochs = saved


def iterative_prune(strategy, experience, targets: Sequence[float], finetune_epochs: int = 1,
                    evaluate: Optional[Callable] = None, callback: Optional[Callable] = None,
                    sizes: bool = True) -> list[dict]:
    """Prune ``strategy.model``'s encoder to each cumulative sparsity of ``targets`` in turn (global L1 of the
    share of what remains that reaches it), fine-tuning ``finetune_epochs`` on ``experience`` after each round.
    A target at or below the current sparsity only measures (e.g. ``0.0`` first: the unpruned model).

    Args:
        targets: non-decreasing shares in ``[0, 1)``, e.g. :func:`prune_schedule` or ``[0, 0.2, ..., 0.9]``.
        evaluate: ``strategy -> dict`` of metrics merged into each round's row.
        callback: called with each row as soon as it is measured (progress).
        sizes: measure each round's file size (serialises and compresses the whole state every round).

    Returns:
        One row per target: ``{"target", "pruned" (measured share), "bytes", "compressed" (of
        :func:`exported_state`; only with ``sizes``), **evaluate(strategy)}``.

    Raises:
        ConfigError: a target outside ``[0, 1)``, decreasing targets, or ``finetune_epochs < 0``.
    """
    if finetune_epochs < 0:
        raise ConfigError(f"finetune_epochs must be >= 0, got {finetune_epochs}")
    if any(not 0.0 <= t < 1.0 for t in targets) or list(targets) != sorted(targets):
        raise ConfigError(f"pruning targets must be non-decreasing shares in [0, 1), got {list(targets)}")
    rows, done = [], pruned_share(strategy.model)
    for target in targets:
        if target > done + 1e-9:
            prune_encoder(strategy.model, 1 - (1 - target) / (1 - done))
            if finetune_epochs:
                finetune(strategy, experience, finetune_epochs)
            done = target
        row = {"target": target, "pruned": pruned_share(strategy.model)}
        if sizes:
            row["bytes"], row["compressed"] = compressed_size(exported_state(strategy.model))
        if evaluate is not None:
            row.update(evaluate(strategy))
        rows.append(row)
        if callback is not None:
            callback(row)
    return rows


def _serialize(state: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def compressed_size(state: dict) -> tuple[int, int]:
    """``(bytes, zlib-compressed bytes)`` of ``torch.save(state)``: dense storage keeps the size, compression
    shows what the zeros could save."""
    raw = _serialize(state)
    return len(raw), len(zlib.compress(raw, 6))


def prune_checkpoint(checkpoint: str | Path, amount: float, output: Optional[str | Path] = None, *,
                     rounds: int = 1, finetune_epochs: int = 0, experiment: Optional[str | Path] = None,
                     data_root: Optional[str] = None, overrides: Sequence[str] = (), block: Sequence[str] = (),
                     echo: Callable = print) -> dict:
    """Prune a run checkpoint's encoder to ``amount``, make it permanent and save it (atomically) as a
    checkpoint ``lreid eval`` / ``lreid search`` read like the original.

    Args:
        rounds: prune in this many rounds (:func:`prune_schedule`).
        finetune_epochs: epochs of fine-tuning after each round on the last training experience of
            ``experiment``'s stream (``0``: prune only).
        experiment: the experiment file that trained the checkpoint (its ``stream(config)``); needed to
            fine-tune. data_root: where its datasets are (default: as saved). overrides: ``key=value``
            settings for the fine-tuning (e.g. ``graft.frozen_epochs=0`` so a staged method trains everything).
        echo: prints each round's sparsity.

    Returns:
        ``{"output", "zeros", "total", "nonzero_params", "params", "bytes", "compressed_bytes",
        "source_bytes", "source_compressed_bytes", "rounds": [per-round rows of iterative_prune]}``.

    Raises:
        CheckpointError: an unreadable checkpoint. ConfigError: ``amount`` outside ``[0, 1)``, ``rounds < 1``,
        or fine-tuning without ``experiment``.
    """
    from lifelong_reid.inference import load_strategy
    from lifelong_reid.strategy.checkpoint import atomic_write_bytes, load_checkpoint

    path = Path(checkpoint)
    if not 0.0 <= amount < 1.0:
        raise ConfigError(f"--amount must lie in [0, 1), got {amount}")
    targets = prune_schedule(amount, rounds)
    if finetune_epochs and experiment is None:
        raise ConfigError("fine-tuning between pruning rounds trains on the run's stream: pass --experiment, the "
                          "experiment file that trained the checkpoint")
    original = load_checkpoint(path)
    module = None
    if experiment is not None:
        from lifelong_reid.experiment import call_stream, load_experiment

        module = load_experiment(experiment)
    plugins = [*getattr(module, "plugins", []), module] if module is not None else []
    overrides = [*overrides, *([f"data_root={data_root}"] if data_root else [])]
    strategy = load_strategy(path, device=None if finetune_epochs else "cpu", progress=False, plugins=plugins,
                             overrides=overrides, block=block)
    experience = call_stream(module, strategy.config).train_stream[-1] if finetune_epochs else None
    rows = iterative_prune(strategy, experience, targets, finetune_epochs=finetune_epochs, sizes=False,
                           callback=lambda r: echo(f"round: {100 * r['pruned']:.1f}% of the encoder's weights pruned"))
    make_permanent(strategy.model)
    strategy.model.cpu()
    state = dict(original)
    state["strategy"] = strategy.state_dict()
    state["pruned"] = {"amount": amount, "rounds": rounds, "finetune_epochs": finetune_epochs,
                       "method": "global L1 unstructured", "source": str(path)}
    out = Path(output) if output else path.with_name(f"{path.stem}_pruned{round(amount * 100)}.pt")
    raw = _serialize(state)  # serialised once: written, and compressed for the report
    atomic_write_bytes(out, lambda f: f.write(raw))
    zeros, total = sparsity(strategy.model)
    params = sum(p.numel() for p in strategy.model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in strategy.model.parameters())
    return {"output": str(out), "zeros": zeros, "total": total, "nonzero_params": nonzero, "params": params,
            "bytes": out.stat().st_size, "compressed_bytes": len(zlib.compress(raw, 6)),
            "source_bytes": path.stat().st_size, "source_compressed_bytes": compressed_size(original)[1],
            "rounds": rows}
