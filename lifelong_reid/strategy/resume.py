"""What resuming inside an experience needs, beyond the weights: optimizer, schedule, grad scaler, random
number generators, Avalanche's clock, the training targets and which parameters train.

:func:`training_state` is taken at the end of an epoch (after the schedule stepped);
:func:`restore_training_state` puts it back where the next epoch would start, so that every epoch after it
computes what the uninterrupted run computed. Everything in it is a tensor or a plain container, so that
``torch.load(..., weights_only=True)`` reads it.
"""
from __future__ import annotations

import random

import numpy as np
import torch

from lifelong_reid.errors import CheckpointError
from lifelong_reid.strategy.optim import build_optimizer, build_scheduler

_CLOCK_FIELDS = ("train_iterations", "train_exp_counter", "train_exp_epochs", "train_exp_iterations",
                 "train_epoch_iterations", "total_iterations")


def rng_state() -> dict:
    """The states of Python's, NumPy's and torch's generators (CUDA's too when present), as tensors and
    plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)),
                                                     "pos": int(pos), "has_gauss": int(has_gauss),
                                                     "gauss": float(gauss)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore :func:`rng_state`'s output."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def training_state(strategy) -> dict:
    """Everything an experience's next epoch depends on (the model and plugin state included)."""
    return {"strategy": strategy.state_dict(),
            "requires_grad": {n: p.requires_grad for n, p in strategy.model.named_parameters()},
            "optimizer": strategy.optimizer.state_dict(),
            "scheduler": strategy.scheduler.state_dict(),
            "scaler": strategy.scaler.state_dict(),
            "lr_factor": strategy.lr_factor,
            "targets": strategy.targets.clone(),
            "experience_is_supervised": strategy.experience_is_supervised,
            "skipped_steps": strategy.skipped_steps,
            "clock": {f: int(getattr(strategy.clock, f)) for f in _CLOCK_FIELDS},
            "rng": rng_state()}


def restore_training_state(strategy, state: dict) -> int:
    """Put :func:`training_state`'s output back into ``strategy`` (inside ``_train_exp``, after the
    experience's set-up ran); returns the number of epochs already done.

    Raises:
        CheckpointError: the saved state does not fit this model (another plugin set or model).
    """
    strategy.load_state_dict(state["strategy"])
    params = dict(strategy.model.named_parameters())
    if set(params) != set(state["requires_grad"]):
        raise CheckpointError("the epoch checkpoint's parameters differ from this model's; resume with the "
                              "plugins and model that wrote it")
    for name, flag in state["requires_grad"].items():
        params[name].requires_grad_(flag)
    strategy.targets = state["targets"].clone()
    strategy.experience_is_supervised = state["experience_is_supervised"]
    strategy.skipped_steps = state["skipped_steps"]
    strategy.lr_factor = state["lr_factor"]
    strategy.optimizer = build_optimizer(strategy._param_groups(), strategy.config)
    # the schedule first: building it sets the learning rates of epoch 0, which the saved ones then replace
    strategy.scheduler = build_scheduler(strategy.optimizer, strategy.config)
    try:
        strategy.optimizer.load_state_dict(state["optimizer"])
    except ValueError as e:
        raise CheckpointError(f"the epoch checkpoint's optimizer does not fit this model ({e})") from None
    strategy.scheduler.load_state_dict(state["scheduler"])
    strategy.scaler.load_state_dict(state["scaler"])
    for f, v in state["clock"].items():
        setattr(strategy.clock, f, v)
    strategy._loader_stale = True  # the P x K loader is rebuilt from the restored targets
    set_rng_state(state["rng"])
    return state["clock"]["train_exp_epochs"]
