"""Optimizer parameter groups and the learning-rate schedule."""
from __future__ import annotations

import bisect
import math

import torch
from torch import nn

from lifelong_reid.errors import ConfigError


def build_param_groups(model: nn.Module, config, plugin_groups=()) -> list[dict]:
    """Parameter groups with per-group learning rates.

    Each trainable parameter not claimed by a plugin group gets ``lr = config.lr * mult`` where ``mult`` is
    the value of the longest key of ``config.lr_mults`` that is a prefix of its name or a dotted part of it
    (``"classifier"`` matches ``classifier.weight`` and ``heads.parts.classifier.weight``; default 1), times
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
        prefixes = [k for k in config.lr_mults if name.startswith(k) or f".{k}." in f".{name}"]
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


def warmup_cosine_factor(epoch: int, epochs: int, warmup_epochs: int, warmup_factor: float,
                         min_factor: float) -> float:
    """Cosine schedule with linear warm-up, stepped per epoch, as timm's ``CosineLRScheduler`` with
    ``warmup_prefix=False`` (CLIP-ReID's and MUVA's stage 1, MambaPro): during warm-up the factor rises
    linearly from ``warmup_factor`` to 1; afterwards it is ``min + (1 - min) (1 + cos(pi epoch / epochs)) / 2``
    (the cosine counts from epoch 0, warm-up included). Factors multiply the base learning rate."""
    if epoch < warmup_epochs:
        return warmup_factor + epoch * (1.0 - warmup_factor) / warmup_epochs
    t = min(epoch, epochs) / max(epochs, 1)
    return min_factor + 0.5 * (1.0 - min_factor) * (1.0 + math.cos(math.pi * t))


def schedule_factor(config):
    """``epoch -> learning-rate factor`` of ``config.scheduler`` (``"multistep"`` or ``"cosine"``)."""
    if config.scheduler == "cosine":
        return lambda e: warmup_cosine_factor(e, config.epochs, config.warmup_epochs, config.warmup_factor,
                                              config.min_lr_factor)
    return lambda e: warmup_multistep_factor(e, config.warmup_epochs, config.warmup_factor, config.milestones,
                                             config.gamma)


def build_scheduler(optimizer: torch.optim.Optimizer, config, start_epoch: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule of :func:`schedule_factor`, stepped per epoch or per iteration (``config.scheduler_step``:
    the strategy calls ``step()`` after each epoch or after each optimizer step, and ``last_epoch`` counts
    those); ``start_epoch`` > 0 continues one (the optimizer was rebuilt mid-experience): the learning rates
    are set for that step at once.

    Raises:
        ConfigError: an unknown ``config.scheduler``.
    """
    if config.scheduler not in ("multistep", "cosine"):
        raise ConfigError(f"unknown scheduler {config.scheduler!r}; use multistep or cosine")
    if start_epoch > 0:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule_factor(config), last_epoch=start_epoch - 1)
