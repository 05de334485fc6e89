"""Helpers for plugin authors' tests: run a plugin on a tiny synthetic stream in seconds.

Example::

    from lifelong_reid.testing import tiny_config, tiny_stream, run_with_plugins

    def test_my_plugin_runs(tmp_path):
        results = run_with_plugins([MyPlugin()], tmp_path)
        assert results["complete"]
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from lifelong_reid.config import RunConfig
from lifelong_reid.data.transforms import build_transforms
from lifelong_reid.plugin_manager import get_plugin_manager, register
from lifelong_reid.runner import run_experiment
from lifelong_reid.streams.synthetic import synthetic_lifelong_stream


def tiny_config(**overrides) -> RunConfig:
    """A config for the bundled tiny model at 64x32 on CPU, 1 epoch, P x K = 4 x 2."""
    cfg = RunConfig(name="tiny", model="lreid-tiny-vit", pretrained=None, image_size=[64, 32], epochs=1,
                    lr=3e-4, warmup_epochs=0, milestones=[], batch_p=4, batch_k=2, bias_lr_mult=1.0,
                    device="cpu", eval_batch_size=64)
    for k, v in overrides.items():
        cfg.set(k, v)
    return cfg


def tiny_stream(config: RunConfig, num_domains: int = 2, num_unseen: int = 1, num_ids: int = 6):
    """A synthetic lifelong stream with ``num_ids`` train and test identities per domain, 2 cameras."""
    return synthetic_lifelong_stream(num_domains, num_unseen, seed=config.seed, num_train_ids=num_ids,
                                     num_test_ids=num_ids, num_cameras=2, images_per_camera=2,
                                     transforms=build_transforms(config.image_size, pad=2))


def run_with_plugins(plugins: Iterable, output: Path, config: Optional[RunConfig] = None, benchmark=None,
                     block=()) -> dict:
    """Run ``plugins`` (with the built-ins) on :func:`tiny_stream`; returns ``results.json`` content."""
    config = config or tiny_config()
    pm = get_plugin_manager(block=block)
    for p in plugins:
        register(pm, p)
    benchmark = benchmark or tiny_stream(config)
    return run_experiment(config, benchmark, pm, Path(output), progress=False, echo=lambda *a: None)
