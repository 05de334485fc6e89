"""Every hookspec is documented and exercised here by a small plugin (datasette's habit)."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.transforms import v2 as T

from lifelong_reid import hookimpl, hookspecs
from lifelong_reid.data.transforms import ToFloatImage
from lifelong_reid.errors import ConfigError
from lifelong_reid.models import build_model
from lifelong_reid.plugin_manager import get_plugin_manager, register
from lifelong_reid.strategy import ReIDStrategy
from lifelong_reid.strategy.checkpoint import latest_checkpoint, load_checkpoint
from lifelong_reid.testing import run_with_plugins, tiny_config, tiny_stream

SPECS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("lreid_")]


def test_every_hookspec_is_documented_and_tested():
    source = Path(__file__).read_text()
    for name in SPECS:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert doc.strip(), f"{name} has no docstring"
        assert "Called:" in doc and "Returns:" in doc, f"{name} does not say when it is called and what it returns"
        assert source.count(f"def {name}(") >= 1, f"{name} has no test plugin in {__file__}"


class Recorder:
    """Implements the boundary, loss, iteration, prompt-token, embedding and state hooks and records calls."""

    name = "recorder"

    def __init__(self):
        self.calls = []
        self.layers_seen = []
        self.prompt = None
        self.counter = 0
        self.steps = []
        self.loaded = None
        self.view = None

    # model surgery + own parameter group
    @hookimpl
    def lreid_adapt_model(self, model, experience):
        self.calls.append(("adapt", None if experience is None else experience.current_experience,
                           model.num_classes))
        if not hasattr(model, "test_prompt"):
            self.prompt = nn.Parameter(torch.zeros(2, model.visual.width))
            model.register_parameter("test_prompt", self.prompt)

    @hookimpl
    def lreid_param_groups(self, model):
        return [{"params": [model.test_prompt], "lr_mult": 10.0, "weight_decay": 0.0, "name": "prompts"}]

    # vision forward: deep prompt tokens at layer 0, removed after the last layer
    @hookimpl
    def lreid_vision_block_start(self, layer_index, context):
        if layer_index == 0 and self.prompt is not None:
            context.add_tokens("prompt", self.prompt)

    @hookimpl
    def lreid_vision_block_end(self, layer_index, context, encoder):
        self.layers_seen.append(layer_index)
        if layer_index == encoder.num_layers - 1 and "prompt" in context.spans:
            context.pop_tokens("prompt")

    @hookimpl
    def lreid_train_views(self, strategy):
        size = strategy.config.image_size
        return {"recorder_plain": T.Compose([T.Resize(size), T.ToImage(), ToFloatImage()])}

    @hookimpl
    def lreid_extra_losses(self, outputs, batch, strategy):
        assert len(batch) == len(outputs["global"]) and batch.domain[0].startswith("synth")
        if self.view is None:
            self.view = (batch.indices.clone(), batch["views"]["recorder_plain"].clone(), batch.images.shape)
            self.stored = strategy.adapted_dataset.reid_dataset
        return {"feat_norm": 1e-3 * outputs["global"].pow(2).sum(1).mean()}

    @hookimpl
    def lreid_after_optimizer_step(self, strategy, batch):
        self.steps.append(strategy.clock.train_iterations)  # Avalanche counts the iteration after this hook

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
    def lreid_load_state_dict(self, state):
        self.loaded = state["recorder"]


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


def test_after_optimizer_step_runs_once_per_iteration(recorded):
    rec, _, _ = recorded
    # once per iteration, before Avalanche's clock counts it: 0, 1, 2, ... over both experiences
    assert rec.steps == list(range(len(rec.steps))) and len(rec.steps) >= 2 * 2 * 2


def test_adapt_model_sees_the_classifier_sized_for_the_experience(recorded):
    rec, _, _ = recorded
    assert rec.calls[0] == ("adapt", 0, 6)  # 6 training identities in the tiny stream


def test_plugin_parameters_are_trained_with_their_own_group(recorded):
    rec, _, _ = recorded
    assert rec.prompt.abs().sum() > 0  # moved away from its zero init, so it was optimized


def test_vision_block_hooks_see_every_layer(recorded):
    rec, _, _ = recorded
    assert rec.layers_seen[:4] == [0, 1, 2, 3]


def test_train_views_reach_the_batch_drawn_from_the_stored_images(recorded):
    rec, _, _ = recorded
    indices, views, shape = rec.view
    assert views.shape == shape  # (B, 3, H, W), sample for sample with batch.images
    size = list(shape[-2:])
    plain = T.Compose([T.Resize(size), T.ToImage(), ToFloatImage()])
    for i, view in zip(indices.tolist(), views):
        assert torch.equal(view, plain(rec.stored.load_image(i)))


class SameView:
    def __init__(self, name):
        self.name = name

    @hookimpl
    def lreid_train_views(self):
        return {"view": lambda image: image}


def test_two_plugins_asking_for_one_view_name_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="training view 'view' is asked for by plugins"):
        run_with_plugins([SameView("a"), SameView("b")], tmp_path)


def test_extra_losses_are_logged_by_name(recorded):
    _, _, out = recorded
    assert "Loss_Epoch/feat_norm" in (out / "losses.log").read_text()


def test_inference_embedding_override_is_used_for_evaluation(tmp_path):
    rec = Recorder()
    pm = get_plugin_manager()
    register(pm, rec)
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
    cfg = tiny_config()
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False)
    strategy.load_state_dict(state["strategy"])  # lreid_adapt_model(experience=None) re-creates the parameter
    assert fresh.loaded == {"counter": 4} and fresh.calls == [("adapt", None, 6)]
    assert torch.equal(strategy.model.test_prompt, rec.prompt.detach())


class BlockCLS:
    """CLS attends only to itself: its output no longer depends on the image."""

    @hookimpl
    def lreid_vision_attention_mask(self, layer_index, context):
        n = context.num_tokens
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
    model.hook = pm.hook
    assert torch.allclose(model(a)["global"], model(b)["global"], atol=1e-6)


class CameraEmbedding:
    """SIE-style: a per-camera vector added to the CLS token before ln_pre."""

    def __init__(self, width):
        self.table = torch.zeros(2, width)
        self.table[1] = torch.linspace(-5, 5, width)  # not constant: ln_pre would remove a constant shift

    @hookimpl
    def lreid_vision_embed_tokens(self, context, encoder):
        assert context.stage == "embed" and context.layer_index == -1
        cams = context.batch.camids
        context.set_tokens("cls", context.get_tokens("cls") + self.table[cams][:, None, :])


def test_embed_tokens_hook_runs_before_ln_pre_and_sees_the_batch():
    from lifelong_reid.data import ReIDBatch

    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()
    x = torch.randn(1, 3, 64, 32).expand(2, -1, -1, -1)
    pm = get_plugin_manager()
    register(pm, CameraEmbedding(model.visual.width))
    model.hook = pm.hook
    batch = ReIDBatch(images=x, targets=torch.tensor([-1, -1]), pids=torch.tensor([1, 1]),
                      camids=torch.tensor([0, 1]), indices=torch.tensor([0, 1]))
    out = model(x, batch)
    assert torch.allclose(out["global"][0], model.frozen_copy()(x[:1])["global"][0], atol=1e-5)  # camera 0: +0
    assert not torch.allclose(out["global"][0], out["global"][1], atol=1e-3)  # camera 1 moved


class FusionAverage:
    """One shared token per modality, averaged over modalities after every block (the exchange point)."""

    def __init__(self):
        self.exchanges = []

    @hookimpl
    def lreid_vision_block_start(self, layer_index, context, encoder):
        if layer_index == 0:
            context.add_tokens("fusion", torch.zeros(context.num_modalities, 1, encoder.width), per_modality=True)

    @hookimpl
    def lreid_vision_exchange(self, layer_index, context):
        f = context.get_tokens("fusion", view=True)  # (B, M, 1, D)
        context.set_tokens("fusion", f.mean(1, keepdim=True).expand_as(f))
        self.exchanges.append((layer_index, tuple(f.shape)))


def test_exchange_hook_runs_after_every_block_on_tuples_only():
    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()
    plugin = FusionAverage()
    pm = get_plugin_manager()
    register(pm, plugin)
    model.hook = pm.hook
    out = model(torch.randn(2, 3, 3, 64, 32))
    assert plugin.exchanges == [(i, (2, 3, 1, model.visual.width)) for i in range(4)]
    fusion = out["context"].get_tokens("fusion", view=True)
    # after the last exchange every modality holds the same fusion token
    assert torch.allclose(fusion[:, 0], fusion[:, 1]) and torch.allclose(fusion[:, 0], fusion[:, 2])
    model(torch.randn(2, 3, 64, 32))
    assert len(plugin.exchanges) == 4  # plain images: no exchange


class PartHead:
    """Declares a head and supplies its feature from the final tokens."""

    @hookimpl
    def lreid_adapt_model(self, model):
        model.add_head("test_parts", model.visual.width, retrieval=True, owner="test")

    @hookimpl
    def lreid_model_outputs(self, outputs, context, model):
        outputs["test_parts"] = context.get_tokens("patches").mean(1)


def test_model_outputs_hook_feeds_a_declared_head_and_the_shared_losses(tmp_path):
    cfg = tiny_config()
    pm = get_plugin_manager()
    register(pm, PartHead())
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False)
    strategy.train(tiny_stream(cfg).train_stream[0])
    model = strategy.model
    out = model(torch.randn(4, 3, 64, 32))
    d = model.visual.width
    assert out["test_parts_logits"].shape == (4, 6) and out["test_parts_bn"].shape == (4, d)
    assert out["feat_spans"] == {"model": (0, model.feat_dim), "test_parts": (model.feat_dim, model.feat_dim + d)}
    assert torch.equal(out["feat"][:, model.feat_dim:], out["test_parts"])
    assert model.heads["test_parts"].classifier.weight.grad is not None  # the identity loss used the head


class Relabel:
    """Pseudo-labels: every pair of original identities shares one target (first result wins)."""

    def __init__(self):
        self.calls = []

    @hookimpl(tryfirst=True)
    def lreid_assign_targets(self, strategy, dataset, epoch, iteration):
        self.calls.append((epoch, iteration))
        if iteration is not None:
            return None
        pids = torch.as_tensor(list(dataset.pids))
        return torch.unique(pids, return_inverse=True)[1] // 2


def test_assign_targets_sets_the_targets_sampler_and_classifier(tmp_path):
    cfg = tiny_config(epochs=2, batch_p=2)
    plugin = Relabel()
    pm = get_plugin_manager()
    register(pm, plugin)
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False)
    strategy.train(tiny_stream(cfg).train_stream[0])
    assert plugin.calls[0] == (0, None) and (1, None) in plugin.calls and (0, 1) in plugin.calls
    assert strategy.model.num_classes == 3 and int(strategy.targets.max()) == 2
    assert set(strategy.sampler.labels) == {0, 1, 2}


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


class ReportSection:
    """Adds a section with a figure file to the run's report."""

    @hookimpl
    def lreid_report_sections(self, strategy, folder):
        (folder / "mine.txt").write_text(f"{len(strategy.domain_features)} domains")
        return [("My plugin", "Saw the domains: [mine.txt](mine.txt)")]


def test_report_sections_are_appended_to_the_report(tmp_path):
    res = run_with_plugins([ReportSection()], tmp_path / "run")
    assert res["complete"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert report.rstrip().endswith("## My plugin\n\nSaw the domains: [mine.txt](mine.txt)")
    assert (tmp_path / "run" / "mine.txt").read_text() == "3 domains"  # 2 seen + 1 unseen, features kept


class OwnHeadOnly:
    """A method whose head replaces the model's: the model's heads' losses are switched off."""

    @hookimpl
    def lreid_adapt_model(self, model):
        model.add_head("own", model.visual.output_dim, triplet=False)
        for head in ("global", "global_proj"):
            model.set_head_losses(head, id_loss=False, triplet=False)

    @hookimpl
    def lreid_model_outputs(self, outputs, model):
        if "own" in model.heads:
            outputs["own"] = outputs["global_proj"] * 2


def test_set_head_losses_moves_the_shared_losses_to_a_plugin_head():
    cfg = tiny_config()
    pm = get_plugin_manager()
    register(pm, OwnHeadOnly())
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False)
    strategy.train(tiny_stream(cfg).train_stream[0])
    model = strategy.model
    assert set(strategy.loss_terms) == {"id"}  # no head asks for the triplet loss: no term at all
    assert model.heads["own"].classifier.weight.grad is not None
    assert model.classifier.weight.grad is None and model.classifier_proj.weight.grad is None
    specs = {h.name: h for h in model.head_specs}
    assert not specs["global"].id_loss and not specs["global"].triplet and specs["own"].id_loss
    with pytest.raises(ConfigError, match="no head 'nope'; heads: global, global_proj, own"):
        model.set_head_losses("nope", id_loss=False)
