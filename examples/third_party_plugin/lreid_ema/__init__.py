"""A mean-teacher (EMA) feature-consistency plugin for lifelong_reid.

The teacher is an exponential moving average of the model (Tarvainen & Valpola, NeurIPS 2017, Eq. 1):
after every optimizer step ``theta_teacher <- m * theta_teacher + (1 - m) * theta_student`` for every
floating-point tensor of the same name and shape (the identity classifiers, resized per experience, are
skipped). Each training mini-batch adds ``weight * d(f_student, f_teacher)`` to the loss, with ``f`` the
model output named ``feature`` (``global_proj`` by default) and ``d`` the cosine distance ``1 - cos`` or
the squared distance of L2-normalised features (``distance="mse"``), averaged over the batch. The teacher
sees the same augmented images as the student (the paper feeds two augmentations; here the consistency
term regularises the student towards its own average, the form used by lifelong ReID methods that keep an
EMA model). The teacher is created at the first experience and kept across experiences.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from lifelong_reid import hookimpl
from lifelong_reid.errors import ConfigError
from lifelong_reid.registry import PluginInfo

__version__ = "0.1.0"


@dataclass
class EMASettings:
    """Settings of the ``ema`` plugin.

    Attributes:
        momentum: EMA momentum ``m`` in ``[0, 1)`` (0.999 in the paper's later phase).
        weight: weight of the consistency term.
        feature: the model output the consistency compares (``global_proj``, ``global``, ``feat``).
        distance: ``"cosine"`` (``1 - cos``) or ``"mse"`` (squared distance of unit vectors).
    """

    momentum: float = 0.999
    weight: float = 1.0
    feature: str = "global_proj"
    distance: str = "cosine"

    def __post_init__(self):
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.distance not in ("cosine", "mse"):
            raise ConfigError(f"distance must be 'cosine' or 'mse', got {self.distance!r}")


def consistency(student: torch.Tensor, teacher: torch.Tensor, distance: str) -> torch.Tensor:
    """``(B, F)`` student and teacher features -> the mean distance (cosine: ``1 - cos``; mse: squared
    distance of the L2-normalised features)."""
    s, t = F.normalize(student.float(), dim=-1), F.normalize(teacher.float(), dim=-1)
    if distance == "cosine":
        return (1.0 - (s * t).sum(-1)).mean()
    return (s - t).pow(2).sum(-1).mean()


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, momentum: float) -> int:
    """``teacher <- momentum * teacher + (1 - momentum) * student`` over floating-point tensors with the same
    name and shape (parameters and buffers); returns how many tensors were updated."""
    s_state = student.state_dict()
    updated = 0
    for name, t in teacher.state_dict().items():
        s = s_state.get(name)
        if s is None or s.shape != t.shape or not t.is_floating_point():
            continue
        t.mul_(momentum).add_(s.detach().to(t.device), alpha=1.0 - momentum)
        updated += 1
    return updated


class MeanTeacherPlugin:
    """The plugin object (one per run)."""

    name = "ema"
    loss_names = ("ema_consistency",)

    def __init__(self, settings: Optional[EMASettings] = None):
        self.settings = settings or EMASettings()
        self.teacher = None
        self._pending: Optional[dict] = None

    def _ensure_teacher(self, model) -> None:
        if self.teacher is None:
            self.teacher = model.frozen_copy()
            if self._pending is not None:  # a resumed run: the saved teacher (tensors that still fit)
                own = self.teacher.state_dict()
                fits = {k: v for k, v in self._pending.items() if k in own and own[k].shape == v.shape}
                self.teacher.load_state_dict(fits, strict=False)
                self._pending = None
        self.teacher.to(next(model.parameters()).device)

    @hookimpl
    def lreid_before_experience(self, strategy):
        self._ensure_teacher(strategy.model)

    @hookimpl
    def lreid_extra_losses(self, outputs, batch, strategy):
        if self.teacher is None or self.settings.weight == 0:
            return None
        with torch.no_grad():
            teacher_out = self.teacher(batch.images, batch)
        key = self.settings.feature
        return {"ema_consistency": self.settings.weight * consistency(outputs[key], teacher_out[key],
                                                                      self.settings.distance)}

    @hookimpl
    def lreid_after_optimizer_step(self, strategy):
        if self.teacher is not None:
            ema_update(self.teacher, strategy.model, self.settings.momentum)

    @hookimpl
    def lreid_state_dict(self):
        if self.teacher is None:  # not built yet, or loaded and waiting for the next experience
            return {"ema": {"teacher": self._pending}}
        return {"ema": {"teacher": {k: v.detach().cpu().clone() for k, v in self.teacher.state_dict().items()}}}

    @hookimpl
    def lreid_load_state_dict(self, state):
        mine = state.get("ema")
        if mine and mine["teacher"] is not None:
            if self.teacher is not None:  # resumed inside an experience: the live teacher takes the saved one
                self.teacher.load_state_dict(mine["teacher"])
                return
            self.teacher, self._pending = None, mine["teacher"]  # built from the model at the next experience


PLUGIN = PluginInfo(
    name="ema", factory=MeanTeacherPlugin, settings=EMASettings, version=__version__, kind="method",
    description="mean teacher: EMA of the model, feature consistency to it (Tarvainen & Valpola 2017)",
    loss_names=MeanTeacherPlugin.loss_names,
    contract={"stream": "lifelong", "settings": {"momentum": 0.9}})
