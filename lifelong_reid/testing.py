"""Helpers for plugin authors' tests: run a plugin on a tiny seeded synthetic stream in seconds.

Functions::

    from lifelong_reid.testing import tiny_config, tiny_stream, run_with_plugins

    def test_my_plugin_runs(tmp_path):
        results = run_with_plugins([MyPlugin()], tmp_path)
        assert results["complete"]

Fixtures (enable them with ``pytest_plugins = ["lifelong_reid.testing"]`` in a top-level ``conftest.py``, or
``from lifelong_reid.testing import lreid_harness, lreid_plugin`` in a nested one):

- ``lreid_harness``: a factory, ``lreid_harness(plugins=[obj], names=["ema"], settings={"ema": {...}},
  stream="lifelong")`` -> :class:`PluginHarness`, whose methods train a few iterations and expose the named
  losses (:meth:`PluginHarness.train`), run the whole stream (:meth:`PluginHarness.run`), round-trip the
  plugins' state through a checkpoint (:meth:`PluginHarness.checkpoint_roundtrip`) and compare a killed and
  resumed run with an uninterrupted one (:meth:`PluginHarness.resume_matches`);
- ``lreid_plugin``: registers a plugin object for one test (``lreid_plugin(obj)`` returns a plugin manager
  holding it and the always-on plugins).

Without a strategy (forward passes, parameter and FLOP counts, benchmarks): ``attach_plugin(model, plugin,
num_classes)`` registers the plugin, relays the model's hooks to it and adapts the model.

Streams (``stream=``): ``"lifelong"`` (2 synthetic domains + 1 unseen, 6 identities each), ``"multimodal"``
(RGB/NIR/TIR tuples), ``"vi-unsupervised"`` (visible + near-infrared cameras, identities hidden).
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Iterable, Optional

import torch

from lifelong_reid.config import RunConfig
from lifelong_reid.data.transforms import build_transforms
from lifelong_reid.hooks import hookimpl
from lifelong_reid.plugin_manager import get_plugin_manager, register
from lifelong_reid.registry import activate_plugins
from lifelong_reid.runner import run_experiment
from lifelong_reid.streams.synthetic import synthetic_lifelong_stream

STREAMS = ("lifelong", "multimodal", "vi-unsupervised")


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


def stream_of_kind(kind: str, config: RunConfig):
    """The tiny stream of kind ``kind`` (see :data:`STREAMS`).

    Raises:
        ValueError: an unknown kind.
    """
    from lifelong_reid.streams import build_stream

    tf = build_transforms(config.image_size, pad=2)
    if kind == "lifelong":
        return tiny_stream(config)
    if kind == "multimodal":
        return build_stream("synthetic-multimodal", seed=config.seed, num_train_ids=6, num_test_ids=6, num_cameras=2,
                            images_per_camera=2, transforms=tf)
    if kind == "vi-unsupervised":
        return build_stream("synthetic-vi-unsupervised", seed=config.seed, num_train_ids=6, num_test_ids=6,
                            num_cameras=2, images_per_camera=3, transforms=tf)
    raise ValueError(f"unknown stream kind {kind!r}; kinds: {', '.join(STREAMS)}")


def attach_plugin(model, plugin, num_classes: int = 4):
    """Put ``plugin`` on ``model`` without a strategy (forward passes, parameter and FLOP counts): a plugin
    manager holding it and the always-on plugins, relayed to by the model's hooks, classifiers sized for
    ``num_classes``, then ``lreid_adapt_model`` (``experience=None``, as when a checkpoint is loaded).

    Returns:
        The plugin manager.
    """
    pm = get_plugin_manager()
    register(pm, plugin)
    model.hook = pm.hook
    model.reset_classifier(num_classes)
    pm.hook.lreid_adapt_model(model=model, experience=None, strategy=None)
    return pm


def run_with_plugins(plugins: Iterable, output: Path, config: Optional[RunConfig] = None, benchmark=None,
                     block=()) -> dict:
    """Run plugin objects (with the always-on plugins, and the registry plugins named in
    ``config.plugins``) on :func:`tiny_stream`; returns the ``results.json`` content."""
    config = config or tiny_config()
    pm = get_plugin_manager(block=block)
    activate_plugins(config, pm, objects=list(plugins), block=block)
    benchmark = benchmark or tiny_stream(config)
    return run_experiment(config, benchmark, pm, Path(output), progress=False, echo=lambda *a: None)


class _Recorder:
    """Records every iteration's loss terms; stops a run after ``kill_at`` experiences (a simulated kill)."""

    name = "lreid-testing-recorder"

    def __init__(self, kill_at: Optional[int] = None, kill_at_epoch: Optional[tuple[int, int]] = None):
        self.iterations: list[dict] = []
        self.kill_at, self.kill_at_epoch = kill_at, kill_at_epoch

    @hookimpl
    def lreid_before_epoch(self, strategy, epoch):
        if self.kill_at_epoch == (strategy.experience.current_experience, epoch):
            raise KeyboardInterrupt("simulated kill")

    @hookimpl
    def lreid_after_optimizer_step(self, strategy):
        self.iterations.append({k: float(v.detach()) for k, v in strategy.loss_terms.items()})

    @hookimpl
    def lreid_before_experience(self, experience):
        if self.kill_at is not None and experience.current_experience >= self.kill_at:
            raise KeyboardInterrupt("simulated kill")


class PluginHarness:
    """A plugin (or several) on a tiny synthetic stream.

    Args:
        plugins: plugin objects to register.
        names: registry plugins to activate (with ``settings[name]``).
        settings: ``{name: {setting: value}}`` for the registry plugins.
        stream: a stream kind (:data:`STREAMS`) or a built benchmark.
        config: the run config (default :func:`tiny_config`).
        block: plugin names to block.
    """

    def __init__(self, plugins: Iterable = (), names: Iterable[str] = (), settings: Optional[dict] = None,
                 stream="lifelong", config: Optional[RunConfig] = None, block: Iterable[str] = ()):
        self.objects = list(plugins)
        self.config = copy.deepcopy(config) if config is not None else tiny_config()
        for name in names:
            self.config.plugins.setdefault(name, {})
        for name, values in (settings or {}).items():
            self.config.plugins.setdefault(name, {}).update(values)
        self.stream_kind = stream
        self.block = list(block)

    def _benchmark(self):
        return stream_of_kind(self.stream_kind, self.config) if isinstance(self.stream_kind, str) else self.stream_kind

    def plugin_manager(self, extra: Iterable = ()):
        """A fresh plugin manager with the harness's plugins (objects are deep-copied, so every call starts
        from the same plugin state) and ``extra`` objects."""
        pm = get_plugin_manager(block=self.block)
        activate_plugins(self.config, pm, objects=[copy.deepcopy(o) for o in self.objects], block=self.block)
        for obj in extra:
            register(pm, obj, name=getattr(obj, "name", None))
        return pm

    def strategy(self, pm=None):
        """A :class:`~lifelong_reid.strategy.ReIDStrategy` on the tiny model with the harness's plugins."""
        from lifelong_reid.models import build_model
        from lifelong_reid.runner import seed_everything
        from lifelong_reid.strategy import ReIDStrategy

        seed_everything(self.config.seed, 0)
        return ReIDStrategy(model=build_model(self.config), config=self.config, pm=pm or self.plugin_manager(),
                            progress=False)

    def train(self, epochs: int = 1) -> list[dict]:
        """Train the first experience for ``epochs`` epochs (a few iterations each on the tiny streams) and
        return every iteration's loss terms ``{name: float}``.

        Raises:
            AssertionError: a loss term is not finite.
        """
        rec = _Recorder()
        self.config.epochs = epochs
        strategy = self.strategy(self.plugin_manager([rec]))
        self.last_strategy = strategy
        strategy.train(self._benchmark().train_stream[0])
        for i, terms in enumerate(rec.iterations):
            bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
            assert not bad, f"iteration {i}: loss terms not finite: {bad}"
        return rec.iterations

    def run(self, output: Path) -> dict:
        """Run the whole stream into ``output``; returns ``results.json``."""
        return run_experiment(self.config, self._benchmark(), self.plugin_manager(), Path(output), progress=False,
                              echo=lambda *a: None)

    def checkpoint_roundtrip(self, epochs: int = 1) -> tuple[dict, dict]:
        """Train one experience, save the strategy state, load it into a fresh strategy with fresh plugins,
        save again; returns ``(saved, saved_again)`` (equal when the plugins' state round-trips)."""
        from lifelong_reid.strategy.checkpoint import check_plain

        self.train(epochs)
        saved = self.last_strategy.state_dict()
        check_plain(saved["plugins"], "plugins")  # what weights_only loading reads back
        fresh = self.strategy()
        fresh.load_state_dict(copy.deepcopy(saved))
        return saved, fresh.state_dict()

    def resume_matches(self, tmp_path: Path) -> tuple[dict, dict]:
        """Run the stream uninterrupted, then run it again killed before its second experience and resumed;
        returns both ``results.json`` (their matrices and ``losses.log`` must agree; asserted here)."""
        return self._kill_and_resume(Path(tmp_path), _Recorder(kill_at=1))

    def epoch_resume_matches(self, tmp_path: Path) -> tuple[dict, dict]:
        """With an epoch checkpoint after every epoch (``checkpoint_every=1``), run the stream uninterrupted,
        then kill it before the second epoch of its last experience and resume from that epoch checkpoint;
        returns both ``results.json`` (matrices and ``losses.log`` must agree; asserted here). Shows that the
        plugins' ``lreid_state_dict`` holds everything an epoch depends on."""
        self.config.checkpoint_every, self.config.epochs = 1, max(self.config.epochs, 2)
        last = len(self._benchmark().train_stream) - 1
        return self._kill_and_resume(Path(tmp_path), _Recorder(kill_at_epoch=(last, 1)))

    def _kill_and_resume(self, tmp_path: Path, killer: "_Recorder") -> tuple[dict, dict]:
        full = self.run(tmp_path / "full")
        try:
            run_experiment(self.config, self._benchmark(), self.plugin_manager([killer]), tmp_path / "killed",
                           progress=False, echo=lambda *a: None)
            raise AssertionError("the simulated kill did not happen (the stream has one experience?)")
        except KeyboardInterrupt:
            pass
        resumed = run_experiment(self.config, self._benchmark(), self.plugin_manager(), tmp_path / "killed",
                                 resume=True, progress=False, echo=lambda *a: None)
        assert json.dumps(resumed["matrix"]) == json.dumps(full["matrix"]), "resumed run differs"
        assert (tmp_path / "killed" / "losses.log").read_text() == (tmp_path / "full" / "losses.log").read_text()
        return full, resumed


def states_equal(a, b) -> bool:
    """Deep equality of checkpoint states (tensors compared exactly)."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        return torch.is_tensor(a) and torch.is_tensor(b) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(states_equal(x, y) for x, y in zip(a, b))
    return a == b


# --------------------------------------------------------------------------- pytest fixtures

try:  # pytest is a test dependency, not a requirement of the library
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:
    @pytest.fixture
    def lreid_harness():
        """``lreid_harness(plugins=..., names=..., settings=..., stream=...)`` -> :class:`PluginHarness`."""
        return PluginHarness

    @pytest.fixture
    def lreid_plugin():
        """``lreid_plugin(obj, name=None)`` -> a plugin manager with ``obj`` registered (for this test only)."""
        def make(obj, name: Optional[str] = None):
            pm = get_plugin_manager()
            register(pm, obj, name=name or getattr(obj, "name", None))
            return pm
        return make
