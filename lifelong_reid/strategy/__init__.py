"""The one training strategy, on Avalanche's template.

- ``reid_strategy.py``: :class:`ReIDStrategy` (P x K loading, ReID losses, AMP, hooks, evaluation);
- ``optim.py``: parameter groups with learning-rate multipliers and the warm-up multi-step schedule;
- ``checkpoint.py``: atomic checkpoint files and resume.
"""
from lifelong_reid.strategy.reid_strategy import ReIDStrategy

__all__ = ["ReIDStrategy"]
