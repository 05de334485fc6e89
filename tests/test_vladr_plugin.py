"""The VLADR plugin on a tiny synthetic lifelong stream: every switch runs, the losses are logged by name,
the prototype memory holds one prototype per attribute per learnt domain, and a run resumes."""
from __future__ import annotations

import pytest

from lifelong_reid.errors import ConfigError
from lifelong_reid.hooks import hookimpl
from lifelong_reid.plugins.vladr.plugin import ABLATIONS, VLADRConfig, VLADRPlugin, ablation_config
from lifelong_reid.testing import run_with_plugins, tiny_config


def small(**kw):
    return VLADRConfig(**{"num_attributes": 2, "prompt_length": 2, "stage1_epochs": 1, **kw})


def test_full_method_runs_logs_its_losses_and_fills_the_memory(tmp_path):
    plugin = VLADRPlugin(small(affinity_kl=True))
    res = run_with_plugins([plugin], tmp_path / "run", config=tiny_config(epochs=1))
    assert res["complete"]
    log = (tmp_path / "run" / "losses.log").read_text()
    for term in ("vladr_i2t", "vladr_cma", "vladr_ida", "vladr_kl"):
        assert term in log
    assert sorted(plugin.memory.prototypes) == ["0", "1"]
    assert plugin.memory.prototypes["0"].shape == (2, 128)
    assert plugin.memory.nbytes() == 2 * 2 * 128 * 4


class ClassMeans:
    """Reads the classifier rows and the BNNeck features before each domain trains (after lreid_adapt_model)."""

    def __init__(self):
        self.rows, self.means, self.views = {}, {}, []

    @hookimpl
    def lreid_before_experience(self, strategy, experience):
        import torch
        import torch.nn.functional as F

        t, offset = experience.current_experience, strategy.class_offset
        feats, _, _ = strategy.extract_features(strategy.adapted_dataset.eval(), output="bn")
        labels = strategy.targets - offset
        self.means[t] = F.normalize(torch.stack([feats[labels == c].mean(0) for c in range(int(labels.max()) + 1)]),
                                    dim=-1)
        self.rows[t] = strategy.model.classifier.weight[offset:].detach().clone()

    @hookimpl
    def lreid_extra_losses(self, batch):
        if not self.views:
            self.views.append(batch["views"]["vladr_strong"].shape == batch.images.shape)


def official_run_config(**kw):
    return tiny_config(epochs=1, label_smoothing=0.0, triplet_margin=None, classifier="grow", neck_feat="after",
                       eval_metric="euclidean", **kw)


def official_settings(**kw):
    return {"preset": "official", "stage1_epochs": 1, **kw}  # the synthetic samples carry part captions


def test_the_official_preset_runs_every_released_component(tmp_path):
    import torch

    from lifelong_reid.plugins.vladr.visual import RegionCrossAttention

    watcher = ClassMeans()
    config = official_run_config()
    config.plugins = {"vladr": official_settings()}
    res = run_with_plugins([watcher], tmp_path / "run", config=config)
    assert res["complete"]
    log = (tmp_path / "run" / "losses.log").read_text()
    for term in ("vladr_kl", "vladr_cma", "vladr_i2t", "vladr_id_strong", "vladr_triplet_strong"):
        assert term in log
    assert "vladr_ida" not in log  # no prototype memory in the released code
    assert watcher.views == [True]  # the strong view reached the batch
    for t in (0, 1):  # the domain's rows start as the L2-normalised class means of the BNNeck features
        assert watcher.rows[t].shape == watcher.means[t].shape == (6, 192)  # the tiny model: width 192
        assert torch.allclose(watcher.rows[t], watcher.means[t], atol=1e-5)
    plugin = config_plugin(tmp_path / "run")
    assert plugin["preset"] == "official" and plugin["region_module"] == "official" and not plugin["ida"]
    from lifelong_reid.strategy.checkpoint import latest_checkpoint, load_checkpoint

    state = load_checkpoint(latest_checkpoint(tmp_path / "run" / "checkpoints"))["strategy"]
    text = state["plugins"]["vladr"]["identity_text"]  # stage 1's identity prompts, kept for a resume
    assert text.shape == (6, 128) and torch.allclose(text.norm(dim=1), torch.ones(6))
    model = _adapted(config)
    heads = {h.name: (h.id_loss, h.triplet) for h in model.head_specs}
    assert heads["global"] == (True, False) and heads["global_proj"] == (False, True)  # the released loss heads
    assert isinstance(model.vladr_queries, RegionCrossAttention)


def config_plugin(folder):
    import json

    return json.loads((folder / "config.json").read_text())["plugins"]["vladr"]


def _adapted(config):
    from lifelong_reid.models import build_model

    model = build_model(config)
    VLADRPlugin(VLADRConfig.from_preset("official")).lreid_adapt_model(model, None, None)
    return model


def test_presets_take_their_settings_and_given_ones_override_them():
    from lifelong_reid.plugins.vladr.plugin import OFFICIAL
    from lifelong_reid.registry import get_plugin_info

    official = VLADRConfig.from_preset("official", affinity_kl=False)
    assert all(getattr(official, k) == v for k, v in OFFICIAL.items() if k != "affinity_kl")
    assert official.affinity_kl is False and official.preset == "official"
    info = get_plugin_info("vladr")
    assert info.validate({"preset": "official", "affinity_kl": False}) == official
    assert info.validate({"preset": "paper"}) == VLADRConfig() == VLADRConfig.from_preset("paper")
    with pytest.raises(ConfigError, match="unknown preset 'released'"):
        info.validate({"preset": "released"})
    with pytest.raises(ConfigError, match="unknown vladr preset"):
        VLADRConfig.from_preset("released")
    for bad in (dict(image_norm="lab"), dict(classifier_init="zeros")):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            VLADRConfig(**bad)


@pytest.mark.parametrize("row", [r for r in ABLATIONS if r not in ("baseline", "full")])
def test_every_ablation_row_runs(tmp_path, row):
    cfg = ablation_config(row, num_attributes=2, prompt_length=2, stage1_epochs=1)
    res = run_with_plugins([VLADRPlugin(cfg)], tmp_path / row, config=tiny_config(epochs=1))
    assert res["complete"]


def test_bad_settings_and_missing_captions_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="granularity"):
        VLADRConfig(granularity="pixel")
    with pytest.raises(ConfigError, match="cma_form"):
        VLADRConfig(cma_form="l2")
    with pytest.raises(ConfigError, match="unknown VLADR ablation row"):
        ablation_config("nope")
    from lifelong_reid.streams.lifelong import lifelong_stream
    from lifelong_reid.synthetic import SyntheticDomain
    import dataclasses
    from lifelong_reid.data import build_transforms

    d = SyntheticDomain("nocap", 1, 4, 3, 2, 2).build()
    d = dataclasses.replace(d, train=[dataclasses.replace(s, caption=None) for s in d.train])
    b = lifelong_stream([d], transforms=build_transforms((64, 32)))
    with pytest.raises(ConfigError, match="needs a caption for every training image"):
        run_with_plugins([VLADRPlugin(small())], tmp_path / "nocap", config=tiny_config(epochs=1), benchmark=b)


class _Crash:
    @hookimpl
    def lreid_before_epoch(self, strategy, epoch):
        if strategy.experience.current_experience == 1:
            raise KeyboardInterrupt("simulated kill")


@pytest.mark.parametrize("preset", ["paper", "official"])
def test_a_killed_vladr_run_resumes_to_the_same_results(tmp_path, preset):
    import json

    from lifelong_reid.plugin_manager import get_plugin_manager, register
    from lifelong_reid.runner import run_experiment
    from lifelong_reid.testing import tiny_stream

    cfg = tiny_config(epochs=1) if preset == "paper" else official_run_config()
    settings = small() if preset == "paper" else VLADRConfig.from_preset(**official_settings())

    def run(out, crash=False, resume=False):
        pm = get_plugin_manager()
        register(pm, VLADRPlugin(settings))
        if crash:
            register(pm, _Crash(), name="crash")
        return run_experiment(cfg, tiny_stream(cfg), pm, out, resume=resume, progress=False, echo=lambda *a: None)

    full = run(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", crash=True)
    resumed = run(tmp_path / "killed", resume=True)
    assert json.dumps(resumed["matrix"]) == json.dumps(full["matrix"])


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["vladr_setting1.py", "vladr_setting2.py", "vladr_setting1_paper.py"])
def test_examples_stop_before_training_with_the_check_report(tmp_path, name):
    from click.testing import CliRunner

    from lifelong_reid.cli import main

    r = CliRunner().invoke(main, ["run", str(EXAMPLES / name), "--data-root", str(tmp_path), "--output",
                                  str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert "not ready" in r.output and "missing    market1501" in r.output
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_synthetic_variant_of_the_example_is_the_tiny_cpu_setting():
    from lifelong_reid.experiment import load_experiment, resolve_config

    module = load_experiment(EXAMPLES / "vladr_setting1.py")
    real = resolve_config(module)
    assert (real.model, real.pretrained, real.batch_p * real.batch_k, real.lr, real.epochs) == \
        ("ViT-B-16", "openai", 64, 5e-6, 60)
    assert real.plugins["vladr"]["preset"] == "official"  # the recipe of the published figures
    assert (real.classifier, real.scheduler_step, real.milestones, real.neck_feat, real.amp, real.sampler) == \
        ("grow", "iteration", [30], "after", None, "pk_camera")
    paper = resolve_config(load_experiment(EXAMPLES / "vladr_setting1_paper.py"))
    assert paper.plugins["vladr"]["preset"] == "paper" and paper.classifier == "reset"
    cfg = resolve_config(module, synthetic=True, epochs=3)
    assert (cfg.model, cfg.device, cfg.epochs, cfg.extra["synthetic"]) == ("lreid-tiny-vit", "cpu", 3, True)
    b = module.stream(cfg)
    assert b.name == "synthetic-setting1" and len(b.train_stream) == 5


def test_synthetic_flag_needs_a_synthetic_variant(tmp_path):
    from click.testing import CliRunner

    from lifelong_reid.cli import main

    r = CliRunner().invoke(main, ["run", str(EXAMPLES / "quickstart.py"), "--synthetic", "--output", str(tmp_path)])
    assert r.exit_code == 2 and "has no synthetic variant" in r.output


@pytest.mark.parametrize("cma_form", ["distance", "matching"])
def test_attribute_losses_can_be_kept_off_the_encoder(cma_form):
    import torch

    from lifelong_reid.models import build_model
    from lifelong_reid.plugins.vladr.losses import cma_loss, cma_matching_loss

    model = build_model(tiny_config())
    model.reset_classifier(3)
    for to_encoder in (True, False):
        plugin = VLADRPlugin(small(attribute_grad_to_encoder=to_encoder, cma_form=cma_form, cma_weight=0.5))
        plugin.lreid_adapt_model(model, None, None)
        plugin.text_attributes = torch.randn(4, 2, 128)
        plugin.domain = "0"
        model.train()
        model.zero_grad()
        out = model(torch.randn(2, 3, 64, 32))
        from lifelong_reid.data import ReIDBatch

        batch = ReIDBatch(images=torch.zeros(2, 3, 64, 32), targets=torch.tensor([0, 1]), pids=torch.tensor([0, 1]),
                          camids=torch.tensor([0, 0]), indices=torch.tensor([0, 1]))
        plugin.identity_text = None
        losses = plugin.lreid_extra_losses(out, batch, type("S", (), {"model": model})())
        v = model.vladr_queries(out["patch_tokens"])
        t = plugin.text_attributes[:2]
        expected = cma_loss(v, t) if cma_form == "distance" else cma_matching_loss(v, t, batch["targets"])
        assert losses["vladr_cma"].item() == pytest.approx(0.5 * expected.item(), rel=1e-5)
        losses["vladr_cma"].backward()
        assert model.vladr_queries.queries.grad.abs().sum() > 0
        encoder_grad = model.visual.blocks[0].attn.in_proj_weight.grad
        assert (encoder_grad is not None and encoder_grad.abs().sum() > 0) == to_encoder


def _part_captioned_stream(config, parts=None):
    """The tiny stream with ``parts(caption)`` as every training image's part captions (default: four word groups
    of its caption; a function returning ``None`` leaves the images without part captions)."""
    import dataclasses

    import numpy as np

    from lifelong_reid.data import build_transforms
    from lifelong_reid.streams.lifelong import lifelong_stream
    from lifelong_reid.synthetic.generator import SyntheticDomain

    def word_groups(caption):
        words = caption.split()
        return {p: " ".join(g) for p, g in zip(("head", "upper", "lower", "foot"), np.array_split(words, 4))}

    parts = parts or word_groups
    domains = []
    for i in range(2):
        d = SyntheticDomain(f"synth{i + 1}", config.seed * 1000 + i, 6, 6, 2, 2).build()
        train = [dataclasses.replace(s, caption_parts=parts(s.caption)) for s in d.train]
        domains.append(dataclasses.replace(d, train=train))
    return lifelong_stream(domains, [], transforms=build_transforms(config.image_size, pad=2))


def test_part_captions_give_each_attribute_its_own_text_feature(tmp_path):
    import torch

    from lifelong_reid.models import build_model

    config = tiny_config(epochs=1)
    plugin = VLADRPlugin(small(mtad=False, caption_parts=True, num_attributes=4))
    res = run_with_plugins([plugin], tmp_path / "run", config=config, benchmark=_part_captioned_stream(config))
    assert res["complete"]
    t = plugin.text_attributes  # (N, 4, E) of the last domain
    assert t.shape[1] == 4 and not torch.allclose(t[:, 0], t[:, 1])
    # t_k is the text encoder's feature of the k-th part caption, the global one that of their join
    model = build_model(config)
    g, tk = plugin._text_features(model, [("a red hat.", "a blue shirt.", "black shorts.", "white shoes.")])
    ref = model.encode_text(model.tokenize(["a red hat.", "a blue shirt.", "black shorts.", "white shoes."]))
    assert torch.allclose(tk[0], ref.float(), atol=1e-6)
    assert torch.allclose(g[0], model.encode_text(model.tokenize(["a red hat. a blue shirt. black shorts. white shoes."]))[0].float(),
                          atol=1e-6)


def test_part_caption_mistakes_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="set mtad=False"):
        VLADRConfig(caption_parts=True)
    config = tiny_config(epochs=1)
    with pytest.raises(ConfigError, match="needs part captions for every training image"):
        run_with_plugins([VLADRPlugin(small(mtad=False, caption_parts=True, num_attributes=4))], tmp_path / "a",
                         config=config, benchmark=_part_captioned_stream(config, lambda caption: None))
    with pytest.raises(ConfigError, match="have 4 part\\(s\\) but num_attributes=2"):
        run_with_plugins([VLADRPlugin(small(mtad=False, caption_parts=True))], tmp_path / "b", config=config,
                         benchmark=_part_captioned_stream(config))


def test_the_real_image_example_reads_the_released_blip2_part_captions():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (root / "captions" / "market1501-mini" / "blip2_parts.json").is_file():
        pytest.skip("../shared/data is not on this machine")
    path = Path(__file__).resolve().parents[1] / "examples" / "vladr_real_mini.py"
    spec = importlib.util.spec_from_file_location("vladr_real_mini", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.config.set("data_root", str(root))
    bench = module.stream(module.config)
    market = bench.domains["market1501-mini"]
    assert len(market.train) == 2882 and all(len(s.caption_parts) == 4 for s in market.train)
    assert all(s.caption_parts is None for s in bench.domains["cuhk03-mini"].train)  # generic captions there


def test_the_released_region_module_round_trips_through_a_checkpoint():
    import torch

    from lifelong_reid.testing import PluginHarness

    harness = PluginHarness(names=["vladr"], settings={"vladr": {"num_attributes": 2, "prompt_length": 2,
                                                                 "stage1_epochs": 1, "region_module": "official"}})
    saved, again = harness.checkpoint_roundtrip()
    keys = [k for k in saved["model"] if k.startswith("vladr_queries.")]
    assert "vladr_queries.region_proj.weight" in keys
    assert all(torch.equal(saved["model"][k], again["model"][k]) for k in keys)
