"""Magnitude pruning: the global L1 step zeroes exactly the requested share of the encoder's weight matrices
(every modality stack), repeated steps prune further, masks fold into plain weights, and ``lreid prune``
writes a checkpoint that ``lreid eval`` reads, reporting sizes and non-zero counts."""
from __future__ import annotations

import copy

import pytest
import torch
from click.testing import CliRunner

from lifelong_reid.cli import main
from lifelong_reid.errors import ConfigError
from lifelong_reid.inference import load_strategy
from lifelong_reid.models import build_model
from lifelong_reid.pruning import (exported_state, iterative_prune, make_permanent, prunable_weights, prune_encoder,
                                    prune_schedule, pruned_share, sparsity)
from lifelong_reid.strategy.checkpoint import latest_checkpoint
from lifelong_reid.testing import run_with_plugins, tiny_config


@pytest.fixture(scope="module")
def model():
    return build_model(tiny_config())


def test_prunable_weights_are_the_blocks_matrices_of_every_stack(model):
    m = copy.deepcopy(model)
    layers = m.visual.num_layers
    assert len(prunable_weights(m)) == 4 * layers  # in_proj, out_proj, c_fc, c_proj per block
    m.visual.split_modality_stacks(3, from_layer=layers - 1)
    assert len(prunable_weights(m)) == 4 * layers + 2 * 4


def test_global_l1_pruning_zeroes_the_smallest_weights_and_repeats(model):
    m = copy.deepcopy(model)
    weights = torch.cat([getattr(mod, n).detach().flatten().abs() for mod, n in prunable_weights(m)])
    prune_encoder(m, 0.5)
    zeros, total = sparsity(m)
    assert total == len(weights) and zeros == round(0.5 * total)
    threshold = weights.kthvalue(zeros).values
    for mod, n in prunable_weights(m):  # what survives is at least as large as what was cut
        w = getattr(mod, n)
        assert (w[w != 0].abs() >= threshold).all()
    prune_encoder(m, 0.5)  # half of the remaining half
    assert sparsity(m)[0] == zeros + round(0.5 * (total - zeros))
    make_permanent(m)
    keys = set(m.state_dict())
    assert not any(k.endswith("_orig") or k.endswith("_mask") for k in keys) and keys == set(model.state_dict())
    out = m(torch.randn(2, 3, 64, 32))
    assert torch.isfinite(out["feat"]).all()
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        prune_encoder(m, 1.0)


def test_prune_command_writes_a_checkpoint_eval_reads(tmp_path):
    run_with_plugins([], tmp_path / "run", config=tiny_config())
    ckpt = latest_checkpoint(tmp_path / "run" / "checkpoints")
    r = CliRunner().invoke(main, ["prune", str(ckpt), "--amount", "0.6", "--output", str(tmp_path / "p.pt")])
    assert r.exit_code == 0, r.output
    assert "(60.0%)" in r.output and "zlib" in r.output
    pruned = load_strategy(tmp_path / "p.pt", progress=False)
    zeros, total = sparsity(pruned.model)
    assert zeros == round(0.6 * total)
    from lifelong_reid.synthetic import SyntheticDomain

    folder = SyntheticDomain("pruned-eval", 7, 2, 4, 2, 2).save(tmp_path / "domain")
    r = CliRunner().invoke(main, ["eval", str(tmp_path / "p.pt"), "--output", str(tmp_path / "eval"), "--domain",
                                  str(folder)])
    assert r.exit_code == 0, r.output
    assert "mAP" in r.output
    bad = CliRunner().invoke(main, ["prune", str(ckpt), "--amount", "1.5"])
    assert bad.exit_code == 2 and bad.output.startswith("error: --amount must lie in [0, 1)")


def test_a_pruned_model_trains_and_its_pruned_weights_stay_zero(model):
    m = copy.deepcopy(model).train()
    prune_encoder(m, 0.5)
    zeros = sparsity(m)[0]
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(2):  # MultiheadAttention reads out_proj.weight without calling out_proj: refreshed each step
        opt.zero_grad()
        m(torch.randn(4, 3, 64, 32))["feat"].pow(2).mean().backward()
        opt.step()
    m(torch.randn(2, 3, 64, 32))
    assert sparsity(m)[0] == zeros
    make_permanent(m)
    assert sparsity(m)[0] == zeros and not any(hasattr(a, "_lreid_out_proj_refresh") for a in m.modules())


def test_a_pruned_model_has_a_frozen_copy_that_computes_the_same(model):
    m = copy.deepcopy(model).eval()
    prune_encoder(m, 0.4)
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        m(x)  # the pruned weights are now computed tensors (weight_orig * weight_mask), not leaves
        old = m.frozen_copy()
        assert torch.allclose(old(x)["feat"], m(x)["feat"], atol=1e-6)
    assert sparsity(old)[0] == sparsity(m)[0] and not any(p.requires_grad for p in old.parameters())


def test_schedule_and_iterative_rounds_reach_each_sparsity():
    assert prune_schedule(0.9, 3) == pytest.approx([1 - 0.1 ** (1 / 3), 1 - 0.1 ** (2 / 3), 0.9])
    assert prune_schedule(0.5, 1) == [0.5]
    with pytest.raises(ConfigError, match="rounds"):
        prune_schedule(0.5, 0)
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.strategy import ReIDStrategy
    from lifelong_reid.testing import tiny_stream

    config = tiny_config()
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=get_plugin_manager(), progress=False)
    experience = tiny_stream(config).train_stream[0]
    strategy.train(experience)
    before = {k: v.clone() for k, v in strategy.model.state_dict().items()}
    seen = []
    rows = iterative_prune(strategy, experience, [0.0, 0.3, 0.3, 0.7], finetune_epochs=1,
                           evaluate=lambda s: {"share": pruned_share(s.model)}, callback=seen.append)
    assert [r["pruned"] for r in rows] == pytest.approx([0.0, 0.3, 0.3, 0.7], abs=1e-3) and seen == rows
    assert rows[0]["bytes"] == rows[-1]["bytes"] and rows[-1]["compressed"] < rows[0]["compressed"]
    assert rows[1]["share"] == rows[1]["pruned"]
    # fine-tuning moved the surviving weights (the classifier too), and the config's epochs are restored
    state = exported_state(strategy.model)
    assert not torch.equal(state["bottleneck.weight"], before["bottleneck.weight"])
    assert strategy.config.epochs == config.epochs and strategy.train_epochs == config.epochs
    with pytest.raises(ConfigError, match="non-decreasing"):
        iterative_prune(strategy, experience, [0.5, 0.2])


def test_prune_command_fine_tunes_between_rounds_on_the_experiment_stream(tmp_path):
    exp = tmp_path / "exp.py"
    exp.write_text("from lifelong_reid.testing import tiny_config, tiny_stream\n"
                   "config = tiny_config(name='prune-exp')\n"
                   "def stream(config):\n    return tiny_stream(config)\n")
    r = CliRunner().invoke(main, ["run", str(exp), "--output", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    ckpt = latest_checkpoint(tmp_path / "run" / "checkpoints")
    bad = CliRunner().invoke(main, ["prune", str(ckpt), "--amount", "0.5", "--finetune-epochs", "1"])
    assert bad.exit_code == 2 and "pass --experiment" in bad.output
    args = ["prune", str(ckpt), "--amount", "0.75", "--rounds", "2"]
    plain = CliRunner().invoke(main, [*args, "--output", str(tmp_path / "plain.pt")])
    tuned = CliRunner().invoke(main, [*args, "--output", str(tmp_path / "tuned.pt"), "--finetune-epochs", "1",
                                      "--experiment", str(exp)])
    assert plain.exit_code == 0 and tuned.exit_code == 0, tuned.output
    assert tuned.output.count("round:") == 2 and "round: 50.0%" in tuned.output and "(75.0%)" in tuned.output
    a, b = (load_strategy(tmp_path / f, progress=False).model for f in ("plain.pt", "tuned.pt"))
    assert sparsity(a)[0] == sparsity(b)[0] == round(0.75 * sparsity(a)[1])
    w = prunable_weights(a)[0][0].in_proj_weight, prunable_weights(b)[0][0].in_proj_weight
    assert not torch.equal(w[0], w[1])  # the fine-tuned one moved between (and after) the rounds
