"""The single bridge from Avalanche's plugin callbacks to the pluggy hooks.

Avalanche calls ``before_training_exp``/``after_training_exp``/``before_training_epoch``/
``after_training_epoch`` on its plugins; :class:`HookBridge` forwards them to ``lreid_before_experience``,
``lreid_after_experience``, ``lreid_before_epoch`` and ``lreid_after_epoch``. Plugin authors learn one API
(the hookspecs); Avalanche plugins still work alongside.
"""
from __future__ import annotations

from avalanche.core import SupervisedPlugin


class HookBridge(SupervisedPlugin, supports_distributed=True):
    """Forwards Avalanche callbacks to the strategy's pluggy hook relay (``strategy.pm.hook``). Every rank of a
    distributed run calls the hooks; :mod:`lifelong_reid.distributed` keeps what they see consistent."""

    def before_training_exp(self, strategy, **kwargs):
        strategy.pm.hook.lreid_before_experience(strategy=strategy, experience=strategy.experience)

    def after_training_exp(self, strategy, **kwargs):
        strategy.pm.hook.lreid_after_experience(strategy=strategy, experience=strategy.experience)

    def before_training_epoch(self, strategy, **kwargs):
        strategy.pm.hook.lreid_before_epoch(strategy=strategy, epoch=strategy.clock.train_exp_epochs)

    def after_training_epoch(self, strategy, **kwargs):
        # Avalanche's Clock (the last plugin) has not yet counted this epoch when we run
        strategy.pm.hook.lreid_after_epoch(strategy=strategy, epoch=strategy.clock.train_exp_epochs,
                                           losses=dict(strategy.epoch_losses))
