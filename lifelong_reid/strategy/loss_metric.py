"""Each loss term's epoch mean as an Avalanche metric, so Avalanche's loggers (text, CSV, TensorBoard,
W&B) record the terms by name (``Loss_Epoch/id``, ``Loss_Epoch/triplet``, ``Loss_Epoch/<plugin term>``)."""
from __future__ import annotations

from avalanche.evaluation.metric_definitions import PluginMetric
from avalanche.evaluation.metric_results import MetricValue


class LossTermsMetric(PluginMetric):
    """Emits ``strategy.epoch_losses`` after every training epoch."""

    def __init__(self):
        super().__init__()
        self._last: dict = {}

    def result(self) -> dict:
        return dict(self._last)

    def reset(self) -> None:
        self._last = {}

    def after_training_epoch(self, strategy):
        self._last = dict(strategy.epoch_losses)
        x = strategy.clock.train_iterations
        return [MetricValue(self, f"Loss_Epoch/{name}", value, x) for name, value in self._last.items()]

    def __str__(self):
        return "Loss_Epoch"
