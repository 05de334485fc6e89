"""Training-side contract: rebuilding the optimizer mid-experience, schedules, optimizers, targets."""
from __future__ import annotations

import math

import pytest
import torch

from lifelong_reid import RunConfig, hookimpl
from lifelong_reid.errors import ConfigError
from lifelong_reid.models import build_model
from lifelong_reid.plugin_manager import get_plugin_manager, register
from lifelong_reid.strategy import ReIDStrategy
from lifelong_reid.strategy.optim import build_optimizer, build_param_groups, build_scheduler, warmup_cosine_factor
from lifelong_reid.testing import run_with_plugins, stream_of_kind, tiny_config, tiny_stream


class TwoStages:
    """GraFT's schedule: the encoder blocks frozen in epoch 0, unfrozen (optimizer rebuilt) from epoch 1."""

    def __init__(self):
        self.snapshots = {}
        self.lrs = {}
        self.adam_steps = None

    @hookimpl
    def lreid_adapt_model(self, model):
        for p in model.visual.blocks.parameters():
            p.requires_grad_(False)

    @hookimpl
    def lreid_before_epoch(self, strategy, epoch):
        if epoch == 1:
            classifier = strategy.model.classifier.weight
            self.adam_steps = float(strategy.optimizer.state[classifier]["step"])
            for p in strategy.model.visual.blocks.parameters():
                p.requires_grad_(True)
            strategy.rebuild_optimizer()
            self.kept_steps = float(strategy.optimizer.state[classifier]["step"])
        self.lrs[epoch] = strategy.optimizer.param_groups[0]["lr"]

    @hookimpl
    def lreid_after_epoch(self, strategy, epoch):
        self.snapshots[epoch] = strategy.model.visual.blocks[0].mlp.c_fc.weight.detach().clone()


def test_rebuilding_the_optimizer_unfreezes_mid_experience_and_keeps_state_and_schedule():
    cfg = tiny_config(epochs=2, warmup_epochs=2, warmup_factor=0.1)
    plugin = TwoStages()
    pm = get_plugin_manager()
    register(pm, plugin)
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False)
    start = strategy.model.visual.blocks[0].mlp.c_fc.weight.detach().clone()
    strategy.train(tiny_stream(cfg).train_stream[0])
    assert torch.equal(plugin.snapshots[0], start)  # frozen in the first stage
    assert not torch.equal(plugin.snapshots[1], start)  # trained after the rebuild
    assert plugin.kept_steps == plugin.adam_steps > 0  # Adam's moments survive the rebuild
    assert plugin.lrs[0] == pytest.approx(cfg.lr * 0.1) and plugin.lrs[1] == pytest.approx(cfg.lr * 0.55)


def test_cosine_schedule_with_warmup_by_hand():
    f = [warmup_cosine_factor(e, 10, 2, 0.1, 0.01) for e in range(11)]
    assert f[0] == pytest.approx(0.1) and f[1] == pytest.approx(0.55)
    assert f[2] == pytest.approx(0.01 + 0.495 * (1 + math.cos(math.pi * 0.2)))
    assert f[10] == pytest.approx(0.01) and all(a >= b for a, b in zip(f[2:], f[3:]))


def test_a_scheduler_rebuilt_mid_experience_continues_at_its_epoch():
    cfg = tiny_config(scheduler="cosine", epochs=10, warmup_epochs=2, warmup_factor=0.1, min_lr_factor=0.01)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    sched = build_scheduler(opt, cfg, start_epoch=3)
    assert opt.param_groups[0]["lr"] == pytest.approx(cfg.lr * warmup_cosine_factor(3, 10, 2, 0.1, 0.01))
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(cfg.lr * warmup_cosine_factor(4, 10, 2, 0.1, 0.01))


def test_every_optimizer_is_accepted_by_the_config_and_built():
    model = build_model(tiny_config())
    model.reset_classifier(3)
    for name, cls in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD)):
        cfg = RunConfig(optimizer=name)
        cfg.override(f"optimizer={name}")
        assert isinstance(build_optimizer(build_param_groups(model, cfg), cfg), cls)
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        RunConfig(optimizer="lamb")
    with pytest.raises(ConfigError, match="scheduler must be one of"):
        RunConfig().override("scheduler=step")


def test_lr_mults_match_a_dotted_part_of_plugin_head_names():
    model = build_model(tiny_config())
    model.add_head("parts", 8)
    model.reset_classifier(3)
    cfg = RunConfig(lr=1.0, lr_mults={"classifier": 10.0}, bias_lr_mult=1.0)
    groups = build_param_groups(model, cfg)
    tenfold = {id(p) for g in groups if g["lr"] == 10.0 for p in g["params"]}
    assert id(model.heads["parts"].classifier.weight) in tenfold and id(model.classifier.weight) in tenfold
    assert id(model.heads["parts"].bottleneck.weight) not in tenfold


def test_targets_are_validated(tmp_path):
    cfg = tiny_config()
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=get_plugin_manager(), progress=False)
    strategy.targets = torch.zeros(4, dtype=torch.long)
    for bad, msg in ((torch.zeros(3, dtype=torch.long), "must be 4 integers"), (torch.zeros(4), "must be 4 integers"),
                     (torch.tensor([-2, 0, 0, 0]), "must be >= 0, or -1"), (torch.full((4,), -1), "at least one")):
        with pytest.raises(ConfigError, match=msg):
            strategy.set_targets(bad)


def test_an_unsupervised_stream_without_a_pseudo_label_plugin_says_what_to_do(tmp_path):
    cfg = tiny_config(batch_p=2)
    benchmark = stream_of_kind("vi-unsupervised", cfg)
    with pytest.raises(ConfigError, match="no active plugin implements lreid_assign_targets; activate a pseudo-label"):
        run_with_plugins([], tmp_path / "run", config=cfg, benchmark=benchmark)
