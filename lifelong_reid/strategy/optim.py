"""Optimizer parameter groups and the learning-rate schedule."""
from __future__ import annotations

import bisect

import torch
from torch import nn

from lifelong_reid.errors import ConfigError


def build_param_groups(model: nn.Module, config, plugin_groups=()) -> list[dict]:
    """Parameter groups with per-group learning rates.

    Each trainable parameter not claimed by a plugin group gets ``lr = config.lr * mult`` where ``mult`` is
    the value of the longest prefix of its name in ``config.lr_mults`` (default 1), times
    ``config.bias_lr_mult`` for biases (CLIP-ReID uses 2). Plugin groups (``lreid_param_groups``) carry
    their own ``lr_mult``. Frozen parameters (``requires_grad=False``) are left out.

    Returns:
        a list of ``{"params", "lr", "weight_decay", "name"}`` dicts for ``torch.optim``.
    """
    claimed = {id(p) for g in plugin_groups for p in g["params"]}
    buckets: dict[tuple, list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in claimed:
            continue
        prefixes = [k for k in config.lr_mults if name.startswith(k)]
        mult = float(config.lr_mults[max(prefixes, key=len)]) if prefixes else 1.0
        if name.endswith("bias"):
            mult *= config.bias_lr_mult
        buckets.setdefault((mult, max(prefixes, key=len) if prefixes else "default"), []).append(p)
    groups = [{"params": ps, "lr": config.lr * mult, "weight_decay": config.weight_decay,
               "name": f"{prefix}x{mult:g}"} for (mult, prefix), ps in buckets.items()]
    for g in plugin_groups:
        params = [p for p in g["params"] if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": config.lr * float(g.get("lr_mult", 1.0)),
                           "weight_decay": float(g.get("weight_decay", config.weight_decay)),
                           "name": g.get("name", "plugin")})
    return groups


def build_optimizer(groups: list[dict], config) -> torch.optim.Optimizer:
    """``adam`` (CLIP-ReID), ``adamw`` or ``sgd`` (momentum 0.9) over ``groups``.

    Raises:
        ConfigError: unknown optimizer name, or no trainable parameter.
    """
    if not groups:
        raise ConfigError("no trainable parameter: every parameter is frozen")
    name = config.optimizer.lower()
    if name == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9)
    raise ConfigError(f"unknown optimizer {config.optimizer!r}; use adam, adamw or sgd")


def warmup_multistep_factor(epoch: int, warmup_epochs: int, warmup_factor: float, milestones, gamma: float) -> float:
    """WarmupMultiStepLR (as in CLIP-ReID / fast-reid), stepped per epoch: linear warm-up from
    ``warmup_factor`` to 1 over ``warmup_epochs``, then ``gamma ** (number of milestones passed)``."""
    factor = 1.0
    if epoch < warmup_epochs:
        alpha = epoch / warmup_epochs
        factor = warmup_factor * (1 - alpha) + alpha
    return factor * gamma ** bisect.bisect_right(sorted(milestones), epoch)


def build_scheduler(optimizer: torch.optim.Optimizer, config) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-epoch :func:`warmup_multistep_factor` schedule."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: warmup_multistep_factor(e, config.warmup_epochs, config.warmup_factor,
                                                     config.milestones, config.gamma))
