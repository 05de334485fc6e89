"""BNNeck, identity classifiers and named heads (Luo et al., "Bag of Tricks and A Strong Baseline for Deep
Person Re-identification", CVPRW 2019).

A *head* turns one named feature of the model's outputs into what the shared ReID losses need: the feature
itself (batch-hard triplet loss), its BNNeck output and identity logits (label-smoothed cross-entropy).
The model declares its own heads (``global``, ``global_proj``); plugins add theirs by name with
:meth:`~lifelong_reid.models.CLIPReID.add_head` (a fused multi-modal feature, part tokens), and the strategy
applies the losses over every head that asks for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn


class BNNeck(nn.BatchNorm1d):
    """BatchNorm1d with a frozen zero bias, weight initialised to 1 (BNNeck, Luo et al. 2019, Sec. 4.2).

    Input and output ``(B, D)``. Under several processes (:mod:`lifelong_reid.distributed`) a training batch is
    normalised with the mean and variance of the global batch (every rank's), as SyncBatchNorm does, on any
    device, so that N processes compute what one process computes on the whole batch.
    """

    def __init__(self, dim: int):
        super().__init__(dim)
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)
        self.bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from lifelong_reid.distributed import sync_batch_stats

        stats = sync_batch_stats(x.float()) if self.training else None
        if stats is None:
            return super().forward(x)
        mean, var, n = stats
        with torch.no_grad():  # running statistics as BatchNorm1d keeps them (unbiased variance)
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked + 1)
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.detach() * n / max(n - 1, 1), alpha=m)
            self.num_batches_tracked += 1
        return (x.float() - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


def make_classifier(dim: int, num_classes: int) -> nn.Linear:
    """``Linear(dim -> num_classes)`` without bias, weights ~ N(0, 0.001) as CLIP-ReID's classifiers."""
    fc = nn.Linear(dim, num_classes, bias=False)
    nn.init.normal_(fc.weight, std=0.001)
    return fc


def grow_classifier(fc: Optional[nn.Linear], dim: int, num_classes: int) -> nn.Linear:
    """A classifier of ``num_classes`` rows whose first rows are ``fc``'s (copied) and the rest new
    (:func:`make_classifier`'s initialisation); ``fc`` itself when it already has ``num_classes`` rows.

    Raises:
        ValueError: ``num_classes`` is fewer than ``fc``'s rows (a classifier only grows).
    """
    if fc is None:
        return make_classifier(dim, num_classes)
    old = fc.weight.shape[0]
    if num_classes == old:
        return fc
    if num_classes < old:
        raise ValueError(f"a classifier grows only: {old} rows, asked for {num_classes}")
    new = make_classifier(dim, num_classes).to(fc.weight.device, fc.weight.dtype)
    with torch.no_grad():
        new.weight[:old].copy_(fc.weight)
    return new


@dataclass(frozen=True)
class HeadSpec:
    """Where a head's values are in the model's outputs and which shared losses use them.

    Attributes:
        name: the head's name. feature: output key of the ``(B, d)`` feature (triplet loss).
        bn: output key of its BNNeck output. logits: output key of its ``(B, C)`` logits (identity loss).
        dim: ``d``. id_loss, triplet: whether the strategy's identity / triplet losses use this head.
        retrieval: whether the feature is appended to the retrieval feature ``feat``.
        owner: ``"model"`` or the name of the plugin that added it.
    """

    name: str
    feature: str
    bn: str
    logits: str
    dim: int
    id_loss: bool = True
    triplet: bool = True
    retrieval: bool = False
    owner: str = "model"


class ReIDHead(nn.Module):
    """BNNeck + identity classifier over a ``(B, dim)`` feature (the classifier is sized per experience by
    :meth:`reset_classifier`)."""

    def __init__(self, dim: int):
        super().__init__()
        self.bottleneck = BNNeck(dim)
        self.classifier: Optional[nn.Linear] = None
        self.dim = dim

    def reset_classifier(self, num_classes: int) -> None:
        self.classifier = make_classifier(self.dim, num_classes).to(self.bottleneck.weight.device)

    def grow_classifier(self, num_classes: int) -> None:
        self.classifier = grow_classifier(self.classifier, self.dim, num_classes).to(self.bottleneck.weight.device)

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(B, dim)`` -> ``(bn (B, dim), logits (B, C) or None)``."""
        bn = self.bottleneck(feature)
        return bn, (self.classifier(bn) if self.classifier is not None else None)
