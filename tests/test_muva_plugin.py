"""The MUVA plugin on the tiny model and tiny synthetic streams: model surgery per granularity, the gate
carries no ReID gradient into the RMP, memories built with pseudo-label masks, stage 1 learns, the mask loss
teaches the RMP the parts, every ablation row runs, errors for missing boxes and bad settings."""
from __future__ import annotations

import pytest
import torch

from lifelong_reid.data.transforms import build_transforms
from lifelong_reid.errors import ConfigError
from lifelong_reid.models import build_model
from lifelong_reid.plugin_manager import get_plugin_manager, register
from lifelong_reid.plugins.muva.analysis import mask_iou_table, predict_masks
from lifelong_reid.plugins.muva.parts import HeightStatistics, patch_mask_targets
from lifelong_reid.plugins.muva.plugin import ABLATIONS, MUVAConfig, MUVAPlugin, ablation_config, templates
from lifelong_reid.strategy import ReIDStrategy
from lifelong_reid.streams.lifelong import lifelong_stream
from lifelong_reid.synthetic import SyntheticDomain
from lifelong_reid.testing import run_with_plugins, tiny_config

SMALL = dict(stage1_epochs=1, rmp_heads=2, rmp_hidden=16)


def one_domain(config, ids=6, seed=3, pad=0):
    d = SyntheticDomain("synth-muva", seed, ids, ids, 2, 3).build()
    return lifelong_stream([d], transforms=build_transforms(config.image_size, pad=pad))


def strategy_with(plugin, config):
    pm = get_plugin_manager()
    register(pm, plugin)
    return ReIDStrategy(model=build_model(config), config=config, pm=pm, progress=False)


def adapted_model(plugin, config, classes: int = 4):
    """The model of a strategy holding ``plugin``, sized for ``classes`` and adapted by the plugin."""
    model = strategy_with(plugin, config).model
    model.reset_classifier(classes)
    plugin.lreid_adapt_model(model)
    return model


@pytest.mark.parametrize("parts", [[], ["head"], ["upper", "legs"], ["head", "upper", "legs"]])
def test_model_surgery_per_granularity(parts):
    cfg = tiny_config(image_size=[128, 64])
    plugin = MUVAPlugin(MUVAConfig(parts=parts, **SMALL))
    model = adapted_model(plugin, cfg, classes=5)
    vis, e, p = model.visual, model.visual.output_dim, len(parts)
    assert model.heads["muva"].dim == (1 + p) * e
    specs = {h.name: h for h in model.head_specs}
    assert specs["muva"].id_loss and not specs["muva"].triplet
    assert not specs["global"].id_loss and not specs["global_proj"].triplet
    assert all(not q.requires_grad for q in vis.conv1.parameters())
    out = model(torch.randn(2, 3, 128, 64))
    assert out["muva"].shape == (2, (1 + p) * e) and out["muva_bn"].shape == (2, (1 + p) * e)
    # the global slot is CLIP's image embedding of CLS
    assert torch.allclose(out["muva"][:, :e], out["global_proj"], atol=1e-5)
    if p:
        assert vis.muva_local.shape == (p, vis.width)
        logits = out["records"]["muva_mask_logits"]
        assert len(logits) == vis.num_layers and logits[0].shape == (2, p, 32)  # (8 x 4) grid at 128x64
        groups = plugin.lreid_param_groups(model)
        assert groups[0]["lr_mult"] == 10.0 and groups[0]["weight_decay"] == 0.0
        assert sum(q.numel() for q in groups[0]["params"]) == sum(q.numel() for q in vis.muva_rmp.parameters())
    else:
        assert not hasattr(vis, "muva_local") and "muva_mask_logits" not in out["records"]
    assert templates(parts, 4)[0] == "A photo of a X X X X person"
    assert len(templates(parts, 4)) == 1 + p


def test_the_gate_sends_no_reid_gradient_into_the_rmp_only_the_mask_loss_does():
    plugin = MUVAPlugin(MUVAConfig(**SMALL))
    model = adapted_model(plugin, tiny_config())
    out = model(torch.randn(4, 3, 64, 32))
    out["muva_logits"].sum().backward(retain_graph=True)
    rmp = model.visual.muva_rmp
    assert all(q.grad is None or not q.grad.any() for q in rmp.parameters())
    assert model.visual.muva_local.grad.abs().sum() > 0  # the local tokens do learn from the ReID loss
    torch.stack(out["records"]["muva_mask_logits"]).sum().backward()
    assert any(q.grad is not None and q.grad.abs().sum() > 0 for q in rmp.parameters())


def test_teacher_masks_replace_the_predictions_while_memories_are_built():
    plugin = MUVAPlugin(MUVAConfig(**SMALL))
    model = adapted_model(plugin, tiny_config()).eval()

    class Batch:
        indices = torch.tensor([1, 0])

    x = torch.randn(2, 3, 64, 32)
    closed = torch.zeros(2, 3, 8, dtype=torch.bool)
    opened = torch.ones(2, 3, 8, dtype=torch.bool)
    with plugin.teacher_masks(closed):
        a = model(x, Batch())
    with plugin.teacher_masks(opened):
        b = model(x, Batch())
    assert "muva_mask_logits" not in a["records"]  # the RMP is bypassed
    assert not torch.allclose(a["muva"], b["muva"])
    mixed = torch.stack([closed[0], opened[0]])  # sample 0 closed, sample 1 open: picked by batch.indices
    with plugin.teacher_masks(mixed):
        c = model(x, Batch())
    assert torch.allclose(c["muva"][0], b["muva"][0], atol=1e-5) and torch.allclose(c["muva"][1], a["muva"][1], atol=1e-5)


def test_full_run_logs_every_term_and_builds_the_memories(tmp_path):
    cfg = tiny_config(epochs=2)
    # stage 1 at a larger rate and a lower temperature than the paper's (one step per epoch on 6 identities)
    plugin = MUVAPlugin(MUVAConfig(**{**SMALL, "stage1_epochs": 30, "stage1_warmup_epochs": 0, "stage1_lr": 5e-3,
                                      "stage1_temperature": 0.1}))
    res = run_with_plugins([plugin], tmp_path / "run", config=cfg, benchmark=one_domain(cfg))
    assert res["complete"]
    log = (tmp_path / "run" / "losses.log").read_text()
    for term in ("muva_imp", "muva_i2tce", "muva_mask", "id"):
        assert term in log
    assert "triplet" not in log
    assert plugin.stage1_history[-1] < 0.8 * plugin.stage1_history[0]  # stage 1 (Eq. 1) learns
    assert plugin.tpm.shape == (6, 4 * 128) and plugin.vpm2.shape == (6, 4 * 128)
    assert torch.allclose(plugin.vpm2.norm(dim=1), torch.ones(6), atol=1e-5)
    assert plugin.stats.count.tolist() == [36, 36, 36]  # every synthetic training image carries its boxes
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## MUVA part masks" in report and (tmp_path / "run" / "muva_masks_synth-muva.png").exists()


def test_the_mask_loss_teaches_the_rmp_the_true_parts():
    """Train only the mask loss (the ReID terms still run) for a few epochs at 128x64: the IoU of the last
    layer's masks with the true part boxes of *unseen* identities rises well above the start."""
    torch.manual_seed(0)
    cfg = tiny_config(image_size=[128, 64], epochs=10, lr=1e-3, batch_p=8, batch_k=3)
    plugin = MUVAPlugin(MUVAConfig(rmp_heads=2, rmp_hidden=32, stage1_epochs=0, i2tce=False,
                                   imp=False))
    strategy = strategy_with(plugin, cfg)
    d = SyntheticDomain("synth-parts", 5, 16, 8, 2, 3).build()
    bench = lifelong_stream([d], transforms=build_transforms(cfg.image_size, pad=0))
    _, eval_tf = build_transforms(cfg.image_size)
    test = d.query + d.gallery
    images = torch.stack([eval_tf(d.image_loader(s)) for s in test[:40]])
    boxes = torch.tensor([[s.part_boxes[p] for p in ("head", "upper", "legs")] for s in test[:40]], dtype=torch.float32)
    # the synthetic crops are rendered at 128 x 64: boxes are already in the encoder's frame
    stats = HeightStatistics.fit(boxes, 128.0)
    truth = patch_mask_targets(boxes, strategy.model.visual.grid, (128, 64), stats)

    strategy.model.reset_classifier(16)
    plugin.lreid_adapt_model(strategy.model)
    before = mask_iou_table(predict_masks(strategy.model, images), truth)[-1]
    strategy.train(bench.train_stream[0])
    after = mask_iou_table(predict_masks(strategy.model, images), truth)[-1]
    # measured (seed 0): before 0.01 / 0.10 / 0.14, after 0.44 / 0.96 / 0.72 (head, upper, legs)
    assert (after > before + 0.2).all(), (before, after)
    assert after.mean() > 0.5, after


@pytest.mark.parametrize("row", [r for r in ABLATIONS if r not in ("baseline", "full")])
def test_every_ablation_row_runs(tmp_path, row):
    cfg = tiny_config(epochs=1)
    res = run_with_plugins([MUVAPlugin(ablation_config(row, **SMALL))], tmp_path / row, config=cfg,
                           benchmark=one_domain(cfg, ids=4))
    assert res["complete"]


def test_missing_boxes_stop_the_run_with_what_to_do(tmp_path):
    import dataclasses

    cfg = tiny_config(epochs=1)
    d = SyntheticDomain("noboxes", 1, 4, 3, 2, 2).build()
    d = dataclasses.replace(d, train=[dataclasses.replace(s, part_boxes=None) for s in d.train])
    bench = lifelong_stream([d], transforms=build_transforms(cfg.image_size))
    with pytest.raises(ConfigError, match="lreid ground IMAGES"):
        run_with_plugins([MUVAPlugin(MUVAConfig(**SMALL))], tmp_path / "a", config=cfg, benchmark=bench)
    res = run_with_plugins([MUVAPlugin(MUVAConfig(missing_boxes="stripes", **SMALL))], tmp_path / "b", config=cfg,
                           benchmark=bench)
    assert res["complete"]


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="parts must be a subset"):
        MUVAConfig(parts=["legs", "head"])
    with pytest.raises(ConfigError, match="masks must be one of"):
        MUVAConfig(masks="boxes")
    with pytest.raises(ConfigError, match="dice must be one of"):
        MUVAConfig(dice="soft")
    with pytest.raises(ConfigError, match="threshold"):
        MUVAConfig(threshold=1.0)
    with pytest.raises(ConfigError, match="unknown MUVA ablation row"):
        ablation_config("G+X")
    assert ablation_config("baseline") is None


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("protocol, missing", [("dg:MS->MA", "missing    msmt17"),
                                               ("dg-loo:C3", "missing    dukemtmc-reid")])
def test_the_dg_example_stops_before_training_with_the_check_report(tmp_path, protocol, missing):
    from click.testing import CliRunner

    from lifelong_reid.cli import main

    r = CliRunner().invoke(main, ["run", str(EXAMPLES / "muva_dg.py"), "--data-root", str(tmp_path), "--output",
                                  str(tmp_path / "out"), "--set", f"extra.protocol={protocol}"])
    assert r.exit_code == 2, r.output
    assert f"stream {protocol}: NOT ready" in r.output and missing in r.output
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_the_dg_example_is_the_paper_recipe_and_its_synthetic_variant_is_tiny():
    from lifelong_reid.experiment import load_experiment, resolve_config

    module = load_experiment(EXAMPLES / "muva_dg.py")
    real = resolve_config(module)
    assert (real.model, real.pretrained, real.image_size, real.batch_p, real.batch_k, real.lr, real.epochs,
            real.milestones, real.random_erasing, real.bias_lr_mult) == \
        ("ViT-B-16", "openai", [256, 128], 16, 4, 5e-6, 60, [30, 50], 0.0, 1.0)
    assert real.plugins["muva"]["stage1_epochs"] == 120 and real.plugins["muva"]["rmp_heads"] == 8
    cfg = resolve_config(module, synthetic=True)
    assert (cfg.model, cfg.device, cfg.image_size) == ("lreid-tiny-vit", "cpu", [128, 64])
    b = module.stream(cfg)
    assert b.name == "synthetic-dg" and len(b.train_stream) == 1 and b.unseen_domains == ["synth-dg4"]
    sample = b.domains[b.train_domains[0]].train[0]
    assert sorted(sample.part_boxes) == ["head", "legs", "upper"]  # the generator's true boxes
