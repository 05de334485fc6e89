"""GraFT's first part: the augmented triplet loss by hand, the centre loss, fusion tokens as the only bridge
between modality encoders, the frozen-to-unfrozen schedule, and learning on the synthetic RGB/NIR/TIR stream."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lifelong_reid.errors import ConfigError
from lifelong_reid.hooks import hookimpl
from lifelong_reid.models import build_model
from lifelong_reid.plugin_manager import get_plugin_manager, register
from lifelong_reid.plugins.graft.losses import COMBOS, CenterLoss, augmented_triplet_loss, triplet_indices
from lifelong_reid.plugins.graft.plugin import GraFTConfig, GraFTPlugin
from lifelong_reid.strategy import ReIDStrategy
from lifelong_reid.testing import stream_of_kind, tiny_config


def test_hard_ffd_by_hand():
    # ids 0, 0, 1, 1 on a line; the fused tokens give anchors and positives, the data tokens the negatives
    fused = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    data = torch.tensor([[10.0], [0.5], [2.0], [9.0]])
    y = torch.tensor([0, 0, 1, 1])
    # anchor 0: positive 1 (d 1); nearest negative data token of id 1: sample 2 (d 2) -> softplus(1 - 2)
    # anchor 1: positive 0 (d 1); negative sample 2 (d 1) -> softplus(0)
    # anchor 2: positive 3 (d 2); negatives' data tokens 10, 0.5 -> sample 0 is 7 away, 1 is 2.5 -> softplus(-0.5)
    # anchor 3: positive 2 (d 2); data tokens 10 (5), 0.5 (4.5) -> softplus(2 - 4.5)
    expected = torch.tensor([F.softplus(torch.tensor(v)) for v in (-1.0, 0.0, -0.5, -2.5)]).mean()
    got = augmented_triplet_loss(fused, data, y, "ffd", mining="hard")
    assert got.item() == pytest.approx(expected.item(), abs=1e-5)
    # "fff" with hard mining is the batch-hard soft-margin triplet on the fused tokens
    fff = augmented_triplet_loss(fused, data, y, "fff", mining="hard")
    d = torch.cdist(fused, fused)
    same = y[:, None] == y[None]
    ref = F.softplus(d.masked_fill(~same, -1).max(1).values - d.masked_fill(same, 1e9).min(1).values).mean()
    assert fff.item() == pytest.approx(ref.item(), abs=1e-5)
    squared = augmented_triplet_loss(fused, data, y, "fff", mining="hard", squared=True)
    assert squared.item() == pytest.approx(F.softplus(torch.tensor([1.0 - 9, 1 - 4, 4 - 4, 4 - 16])).mean().item(),
                                           abs=1e-5)
    assert len(COMBOS) == 8 and "ffd" in COMBOS and "dfd" in COMBOS
    with pytest.raises(ValueError, match="combo"):
        augmented_triplet_loss(fused, data, y, "ffx")


def test_random_triplets_are_valid():
    y = torch.tensor([0, 0, 1, 1, 2, 3])  # ids 2 and 3 have no positive: no triplet
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        a, p, n = triplet_indices(y, "random", generator=g)
        assert a.tolist() == [0, 1, 2, 3]
        assert (y[a] == y[p]).all() and (a != p).all() and (y[a] != y[n]).all()


def test_center_loss_is_eq_9_and_moves_its_centres():
    loss = CenterLoss(2, 2)
    with torch.no_grad():
        loss.centers.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    f = torch.tensor([[3.0, 4.0], [1.0, 1.0], [1.0, 2.0]])
    value = loss(f, torch.tensor([0, 1, 1]))
    assert value.item() == pytest.approx(5.0 + 0.0 + 1.0)
    value.backward()
    assert loss.centers.grad.abs().sum() > 0


def adapted(cfg: GraFTConfig, config=None):
    config = config or tiny_config()
    plugin = GraFTPlugin(cfg)
    pm = get_plugin_manager()
    register(pm, plugin)
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=pm, progress=False)
    strategy.model.reset_classifier(4)
    plugin.lreid_adapt_model(strategy.model)
    return plugin, strategy


def test_modalities_meet_only_through_the_fusion_token():
    _, strategy = adapted(GraFTConfig(encoder_layers=2))
    model = strategy.model.eval()
    vis = model.visual
    assert vis.num_stacks == 3 and vis.split_from == vis.num_layers - 2
    x = torch.randn(2, 3, 3, 64, 32)
    y = x.clone()
    y[:, 1] = torch.randn(2, 3, 64, 32)  # another NIR image
    a, b = model(x), model(y)
    assert a["graft"].shape == (2, vis.width) and a["graft_data"].shape == (2, vis.width)
    assert not torch.allclose(a["graft"], b["graft"], atol=1e-4)
    # the RGB stream hears of the NIR change only through the fusion token of the last two blocks
    assert not torch.allclose(a["modal_global"][:, 0], b["modal_global"][:, 0], atol=1e-5)
    relay, model.hook = model.hook, None
    try:
        c, d = model(x), model(y)
    finally:
        model.hook = relay
    assert torch.allclose(c["modal_global"][:, 0], d["modal_global"][:, 0], atol=1e-6)


class _Snapshots:
    def __init__(self):
        self.after = []

    @hookimpl
    def lreid_after_epoch(self, strategy):
        vis = strategy.model.visual
        self.after.append((vis.blocks[0].mlp.c_fc.weight.detach().clone(), vis.graft_fusion.detach().clone(),
                           vis.blocks[-1].mlp.c_fc.weight.detach().clone()))


def test_the_backbone_is_frozen_for_the_first_epochs_then_trains():
    config = tiny_config(epochs=2, batch_p=3, batch_k=2)
    plugin, strategy = adapted(GraFTConfig(frozen_epochs=1), config)
    snaps = _Snapshots()
    register(strategy.pm, snaps)
    before = strategy.model.visual.blocks[0].mlp.c_fc.weight.detach().clone()
    strategy.train(stream_of_kind("multimodal", config).train_stream[0])
    (b1, f1, top1), (b2, f2, top2) = snaps.after
    assert torch.equal(b1, before)  # epoch 1: the shared backbone did not move
    assert not torch.equal(f1, strategy.model.visual.graft_fusion.new_zeros(f1.shape))
    assert not torch.equal(b2, b1)  # epoch 2: it trains
    assert not torch.equal(top2, top1)
    assert "graft_center" in strategy.loss_terms  # the centre loss joins after the frozen stage


def test_fused_model_learns_on_the_synthetic_rgbnt_stream():
    """The fused embedding (the test feature) of the adapted but untrained model against the same after
    training, on the tiny RGB/NIR/TIR stream's test split. With the fused-token triplet ("fff"); measured
    (seed 0): 51.9 -> 63.9 mAP. With FFD the triplet term reaches 0 within the first epoch on this random-init
    model (fused tokens lie far from every CLS data token), leaving the identity loss alone: 51.9 -> 52.9."""
    torch.manual_seed(0)
    config = tiny_config(epochs=6, lr=3e-4, batch_p=3, batch_k=2)
    _, strategy = adapted(GraFTConfig(mining="hard", combo="fff"), config)
    bench = stream_of_kind("multimodal", config)
    before = strategy.evaluate_domains(bench)
    strategy.train(bench.train_stream[0])
    after = strategy.evaluate_domains(bench)
    name = bench.eval_domains[0]
    assert after[name]["mAP"] > before[name]["mAP"] + 5, (before[name]["mAP"], after[name]["mAP"])


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="combo"):
        GraFTConfig(combo="fxd")
    with pytest.raises(ConfigError, match="mining"):
        GraFTConfig(mining="semi")
    with pytest.raises(ConfigError, match="encoder_layers"):
        adapted(GraFTConfig(encoder_layers=9))


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name, dataset", [("graft_rgbnt100.py", "rgbnt100"), ("graft_rgbnt201.py", "rgbnt201")])
def test_the_examples_stop_before_training_with_the_check_report(tmp_path, name, dataset):
    from click.testing import CliRunner

    from lifelong_reid.cli import main

    r = CliRunner().invoke(main, ["run", str(EXAMPLES / name), "--data-root", str(tmp_path), "--output",
                                  str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert f"stream supervised:{dataset}: NOT ready" in r.output and f"missing    {dataset}" in r.output


def test_the_example_recipe_and_its_synthetic_variant():
    from lifelong_reid.experiment import load_experiment, resolve_config

    module = load_experiment(EXAMPLES / "graft_rgbnt100.py")
    real = resolve_config(module)
    assert (real.optimizer, real.lr, real.weight_decay, real.epochs, real.image_size, real.id_weight) == \
        ("adamw", 2.54e-5, 0.05, 100, [128, 256], 0.5)
    assert real.plugins["graft"] == {"frozen_epochs": 40, "triplet_weight": 0.5, "unfrozen_lr_factor": 0.226}
    cfg = resolve_config(module, synthetic=True)
    assert (cfg.model, cfg.device, cfg.plugins["graft"]["frozen_epochs"]) == ("lreid-tiny-vit", "cpu", 2)
    b = module.stream(cfg)
    assert b.name == "synthetic-multimodal" and len(b.train_stream) == 1


def test_missing_modalities_at_test_time_through_the_evaluation_api():
    config = tiny_config()
    _, strategy = adapted(GraFTConfig(), config)
    query = next(stream_of_kind("multimodal", config).eval_sets())[1]
    full = strategy.embed(query.eval())["feat"]
    for drop in (("rgb",), ("nir", "tir")):
        part = strategy.embed(query.eval(), drop_modalities=drop)["feat"]
        assert part.shape == full.shape == (len(query), strategy.model.visual.width)  # the fused token
        assert torch.isfinite(part).all() and not torch.allclose(part, full)


def _joint_reference(model, x, fusion):
    """Table 5's vanilla fusions by hand: every modality through the shared blocks below ``L-1``, the
    sequences concatenated (behind the learnt CLS for concat_cls), the top block over the joint sequence."""
    vis = model.visual
    b, m = x.shape[:2]
    with torch.no_grad():
        t = vis.ln_pre(vis.embed(x.flatten(0, 1)))
        for block in vis.blocks[:-1]:
            t = block(t)
        t = t.reshape(b, m * t.shape[1], -1)
        if fusion == "concat_cls":
            t = torch.cat([vis.graft_fusion.expand(b, -1, -1), t], dim=1)
        t = vis.ln_post(vis.blocks[-1](t))
        return t[:, 0] if fusion == "concat_cls" else t.mean(1)


@pytest.mark.parametrize("fusion", ["concat_cls", "concat_mean"])
def test_vanilla_fusions_equal_the_joint_encoder_by_hand(fusion):
    _, strategy = adapted(GraFTConfig(fusion=fusion))
    model = strategy.model.eval()
    assert model.visual.num_stacks == 1  # one joint encoder, whatever separate_encoders says
    x = torch.randn(2, 3, 3, 64, 32)
    with torch.no_grad():
        out = model(x)
    assert torch.allclose(out["graft"], _joint_reference(model, x, fusion), atol=1e-5)
    assert out["graft_data"].shape == out["graft"].shape == (2, model.visual.width)
    y = x.clone()
    y[:, 2] = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert not torch.allclose(model(y)["graft"], out["graft"], atol=1e-4)


def test_the_second_stage_trains_at_the_lower_rate():
    config = tiny_config(epochs=2, batch_p=3, batch_k=2, scheduler="cosine", warmup_epochs=0)
    plugin, strategy = adapted(GraFTConfig(frozen_epochs=1, unfrozen_lr_factor=0.25), config)
    rates = []

    class Rates:
        @hookimpl
        def lreid_after_epoch(self, strategy):
            rates.append([g["lr"] for g in strategy.optimizer.param_groups])

    register(strategy.pm, Rates())
    strategy.train(stream_of_kind("multimodal", config).train_stream[0])
    assert strategy.lr_factor == 0.25
    # the same cosine schedule at epoch 1 for both, scaled by 0.25 after unfreezing
    from lifelong_reid.strategy.optim import schedule_factor

    assert max(rates[1]) == pytest.approx(config.lr * 0.25 * schedule_factor(config)(1))
    assert max(rates[0]) == pytest.approx(config.lr * schedule_factor(config)(0))
    strategy.make_optimizer()
    assert strategy.lr_factor == 1.0  # each experience starts at the base rate
    with pytest.raises(ConfigError, match="lr_factor"):
        strategy.rebuild_optimizer(lr_factor=0)
    with pytest.raises(ConfigError, match="unfrozen_lr_factor"):
        GraFTConfig(unfrozen_lr_factor=-1)


@pytest.mark.parametrize("modalities", ["N", "RT"])
def test_a_subset_of_modalities_trains_and_drops_at_test_time(modalities):
    from lifelong_reid.streams import build_stream
    from lifelong_reid.data import build_transforms

    m = len(modalities)
    config = tiny_config(batch_p=3, batch_k=2)
    _, strategy = adapted(GraFTConfig(num_modalities=m), config)
    bench = build_stream("synthetic-multimodal", num_train_ids=4, num_test_ids=4, num_cameras=2,
                         images_per_camera=2, transforms=build_transforms(config.image_size, pad=0),
                         modalities=modalities)
    strategy.train(bench.train_stream[0])
    assert strategy.model.visual.num_stacks == m and "graft_triplet" in strategy.loss_terms
    query = next(bench.eval_sets())[1].eval()
    feat = strategy.embed(query)["feat"]
    assert feat.shape == (len(query), strategy.model.visual.width)
    if m == 2:
        _, other = adapted(GraFTConfig(), config)  # built for three modalities
        with pytest.raises(ConfigError, match="set graft.num_modalities=2"):
            other.embed(query)
        dropped = strategy.embed(query, drop_modalities=("tir",))["feat"]
        assert not torch.allclose(dropped, feat)
        with pytest.raises(ConfigError, match="the tuples hold rgb, tir"):
            strategy.embed(query, drop_modalities=("nir",))
