"""Every hookspec is documented and exercised here by a small plugin."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from torch import nn

from lifelong_reid import hookimpl, hookspecs
from lifelong_reid.errors import ConfigError
from lifelong_reid.models import build_model
from lifelong_reid.plugin_manager import get_plugin_manager, register
from lifelong_reid.strategy.checkpoint import latest_checkpoint, load_checkpoint
from lifelong_reid.testing import run_with_plugins, tiny_config

SPECS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("lreid_")]


def test_every_hookspec_is_documented_and_tested():
    source = Path(__file__).read_text()
    for name in SPECS:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"{name} has no docstring"
        assert source.count(f"def {name}(") >= 1, f"{name} has no test plugin in {__file__}"


class Recorder:
    """Implements the boundary, loss, prompt-token, embedding and state hooks and records the calls."""

    def __init__(self):
        self.calls = []
        self.layers_seen = []
        self.prompt = None
        self.counter = 0
        self.loaded = None

    # model surgery + own parameter group
    @hookimpl
    def lreid_adapt_model(self, model, experience):
        self.calls.append(("adapt", experience.current_experience, model.num_classes))
        if self.prompt is None:
            self.prompt = nn.Parameter(torch.zeros(2, model.visual.width))
            model.register_parameter("test_prompt", self.prompt)

    @hookimpl
    def lreid_param_groups(self, model):
        return [{"params": [self.prompt], "lr_mult": 10.0, "weight_decay": 0.0, "name": "prompts"}]

    # vision forward: deep prompt tokens at layer 0, removed after the last layer
    @hookimpl
    def lreid_vision_block_start(self, layer_index, context):
        if layer_index == 0 and self.prompt is not None:
            context.add_tokens("prompt", self.prompt)

    @hookimpl
    def lreid_vision_block_end(self, layer_index, context, encoder):
        self.layers_seen.append(layer_index)
        if layer_index == len(encoder.blocks) - 1 and "prompt" in context.spans:
            context.pop_tokens("prompt")

    @hookimpl
    def lreid_extra_losses(self, outputs, strategy):
        return {"feat_norm": 1e-3 * outputs["global"].pow(2).sum(1).mean()}

    @hookimpl
    def lreid_before_experience(self, experience):
        self.calls.append(("before_exp", experience.current_experience))

    @hookimpl
    def lreid_after_experience(self, experience):
        self.calls.append(("after_exp", experience.current_experience))

    @hookimpl
    def lreid_before_epoch(self, epoch):
        self.calls.append(("before_epoch", epoch))

    @hookimpl
    def lreid_after_epoch(self, epoch, losses):
        self.calls.append(("after_epoch", epoch, sorted(losses)))
        self.counter += 1

    @hookimpl
    def lreid_inference_embedding(self, outputs):
        return outputs["bn"]

    @hookimpl
    def lreid_state_dict(self):
        return {"recorder": {"counter": self.counter}}

    @hookimpl
    def lreid_load_state_dict(self, state, strategy):
        self.loaded = state["recorder"]
        if strategy is not None and self.prompt is None:  # re-create what lreid_adapt_model added
            self.prompt = nn.Parameter(torch.zeros(2, strategy.model.visual.width))
            strategy.model.register_parameter("test_prompt", self.prompt)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("hooks")
    rec = Recorder()
    results = run_with_plugins([rec], out, config=tiny_config(epochs=2))
    return rec, results, out


def test_boundary_hooks_are_called_in_order(recorded):
    rec, _, _ = recorded
    loss_names = ["feat_norm", "id", "loss", "triplet"]
    per_exp = lambda t: [("adapt", t, rec.calls[0][2]) if t == 0 else rec.calls[6 * t],  # noqa: E731
                         ("before_exp", t), ("before_epoch", 0), ("after_epoch", 0, loss_names),
                         ("before_epoch", 1), ("after_epoch", 1, loss_names), ("after_exp", t)]
    assert rec.calls[:7] == per_exp(0)
    assert rec.calls[7][:2] == ("adapt", 1) and rec.calls[8:14] == per_exp(1)[1:]


def test_adapt_model_sees_the_classifier_sized_for_the_experience(recorded):
    rec, _, _ = recorded
    assert rec.calls[0] == ("adapt", 0, 6)  # 6 training identities in the tiny stream


def test_plugin_parameters_are_trained_with_their_own_group(recorded):
    rec, _, _ = recorded
    assert rec.prompt.abs().sum() > 0  # moved away from its zero init, so it was optimized


def test_vision_block_hooks_see_every_layer(recorded):
    rec, _, _ = recorded
    assert rec.layers_seen[:4] == [0, 1, 2, 3]


def test_extra_losses_are_logged_by_name(recorded):
    _, _, out = recorded
    assert "Loss_Epoch/feat_norm" in (out / "losses.log").read_text()


def test_inference_embedding_override_is_used_for_evaluation(tmp_path):
    rec = Recorder()
    pm = get_plugin_manager()
    register(pm, rec)
    from lifelong_reid.strategy import ReIDStrategy
    from lifelong_reid.testing import tiny_stream
    cfg = tiny_config()
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False)
    _, query, _ = next(tiny_stream(cfg).eval_sets())
    feats, pids, camids = strategy.extract_features(query.eval())
    assert feats.shape == (len(query), strategy.model.visual.width)  # bn, not the default cat feature


def test_plugin_state_is_saved_in_checkpoints_and_restored(recorded, tmp_path):
    rec, _, out = recorded
    state = load_checkpoint(latest_checkpoint(out / "checkpoints"))
    assert state["strategy"]["plugins"] == {"recorder": {"counter": 4}}
    pm = get_plugin_manager()
    fresh = Recorder()
    register(pm, fresh)
    from lifelong_reid.strategy import ReIDStrategy
    cfg = tiny_config()
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False)
    strategy.load_state_dict(state["strategy"])  # plugin re-creates its parameter before the weights load
    assert fresh.loaded == {"counter": 4}
    assert torch.equal(strategy.model.test_prompt, rec.prompt.detach())


class BlockCLS:
    """CLS attends only to itself: its output no longer depends on the image."""

    @hookimpl
    def lreid_vision_attention_mask(self, layer_index, context):
        n = context.tokens.shape[1]
        mask = torch.zeros(n, n)
        mask[0, 1:] = float("-inf")
        return mask


def test_attention_mask_hook_reaches_the_attention():
    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()
    a, b = torch.randn(2, 3, 64, 32), torch.randn(2, 3, 64, 32)
    assert not torch.allclose(model(a)["global"], model(b)["global"])
    pm = get_plugin_manager()
    register(pm, BlockCLS())
    model.visual.hook = pm.hook
    assert torch.allclose(model(a)["global"], model(b)["global"], atol=1e-6)


def test_duplicate_loss_names_are_an_error(tmp_path):
    class Dup:
        @hookimpl
        def lreid_extra_losses(self):
            return {"id": torch.tensor(0.0)}
    with pytest.raises(ConfigError, match="loss term 'id' is returned twice"):
        run_with_plugins([Dup()], tmp_path)


def test_misspelt_hook_name_is_an_error():
    class Typo:
        @hookimpl
        def lreid_extra_loss(self):
            return {}
    with pytest.raises(ConfigError, match="lreid_extra_loss"):
        register(get_plugin_manager(), Typo())


def test_blocking_core_leaves_no_embedding(tmp_path):
    with pytest.raises(ConfigError, match="lreid_inference_embedding"):
        run_with_plugins([], tmp_path, block=["core"])
