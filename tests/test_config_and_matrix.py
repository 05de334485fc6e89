"""RunConfig overrides, the accuracy matrix summaries, the learning-rate schedule."""
from __future__ import annotations

import pytest

from lifelong_reid import RunConfig
from lifelong_reid.errors import ConfigError
from lifelong_reid.evaluation import AccuracyMatrix
from lifelong_reid.strategy.optim import warmup_multistep_factor


def test_overrides_parse_json_and_check_types():
    c = RunConfig()
    for a in ("lr=1e-4", "image_size=[128,64]", "pretrained=null", "epochs=3", "model=lreid-tiny-vit",
              "extra.alpha=0.6", "lr_mults={\"classifier\": 10}"):
        c.override(a)
    assert (c.lr, c.image_size, c.pretrained, c.epochs, c.model) == (1e-4, [128, 64], None, 3, "lreid-tiny-vit")
    assert c.extra == {"alpha": 0.6} and c.lr_mults == {"classifier": 10}
    with pytest.raises(ConfigError, match="unknown config key 'epoch'.*did you mean epochs"):
        c.override("epoch=3")
    with pytest.raises(ConfigError, match="epochs expects an integer"):
        c.override("epochs=[1]")
    for bad in ("lr=abc", "weight_decay=abc", "label_smoothing=[1]"):
        with pytest.raises(ConfigError, match="expects a number"):
            c.override(bad)
    c.override("name=2024")  # a string field keeps the text
    assert c.name == "2024"
    with pytest.raises(ConfigError, match="expected key=value"):
        c.override("epochs")


def test_fields_with_fixed_choices_are_checked_when_set_and_when_built():
    c = RunConfig()
    c.override("eval_metric=euclidean")
    assert c.eval_metric == "euclidean"
    with pytest.raises(ConfigError, match="eval_metric must be one of 'cosine', 'euclidean', got 'cosin'"):
        c.override("eval_metric=cosin")
    with pytest.raises(ConfigError, match="amp must be one of"):
        RunConfig(amp="fp8")


@pytest.mark.parametrize("assignment, message", [
    ("lr=-1", "lr must be a finite number > 0, got -1.0"), ("lr=NaN", "lr must be a finite number > 0, got nan"),
    ("lr=0", "lr must be a finite number > 0"), ("weight_decay=-1e-4", "weight_decay must be a finite number >= 0"),
    ("label_smoothing=1", r"label_smoothing must be in \[0, 1\)"), ("batch_p=0", "batch_p must be an integer >= 1"),
    ("epochs=-1", "epochs must be an integer >= 0"), ("triplet_margin=0", "triplet_margin must be a finite number > 0"),
    ("random_erasing=1.5", "random_erasing must be a probability"), ("gamma=0", r"gamma must be in \(0, 1\]"),
    ("eval_batch_size=0", "eval_batch_size must be an integer >= 1"), ("rerank_lambda=2", r"rerank_lambda must be in"),
])
def test_numeric_settings_are_range_checked_when_set(assignment, message):
    c = RunConfig()
    with pytest.raises(ConfigError, match=message):
        c.override(assignment)
    assert c == RunConfig()  # nothing was set


def test_numeric_settings_are_range_checked_when_built_and_edges_pass():
    with pytest.raises(ConfigError, match="label_smoothing must be in"):
        RunConfig(label_smoothing=-0.1)
    c = RunConfig(epochs=0, label_smoothing=0.0, triplet_margin=None, warmup_epochs=0, min_lr_factor=1.0)
    for assignment in ("lr=1e3", "weight_decay=0", "random_erasing=1", "stride=null", "num_workers=0"):
        c.override(assignment)
    assert (c.lr, c.weight_decay, c.stride) == (1e3, 0.0, None)


def test_matrix_seen_and_unseen_averages_as_lifelong_reid_code_computes_them():
    m = AccuracyMatrix(["A", "B", "U1", "U2"], seen=["A", "B"], unseen=["U1", "U2"])
    row = lambda a, b, u1, u2: {"A": {"mAP": a, "rank1": a + 1}, "B": {"mAP": b, "rank1": b + 1},  # noqa: E731
                                "U1": {"mAP": u1, "rank1": u1 + 1}, "U2": {"mAP": u2, "rank1": u2 + 1}}
    m.add_row("initial", row(1, 2, 3, 4))
    m.add_row("after:A", row(50, 10, 20, 30))
    m.add_row("after:B", row(40, 60, 25, 35))
    assert m.final() == {"seen": {"mAP": 50.0, "rank1": 51.0}, "unseen": {"mAP": 30.0, "rank1": 31.0}}
    assert m.to_dict()["mAP"][1] == [50, 10, 20, 30]
    assert "after:B" in m.format("rank1")
    # A learnt at row 1 (50) then 40: forgetting 10, BWT -10; B learnt in the last row: left out
    assert m.forgetting("mAP") == {"per_domain": {"A": 10.0}, "mean": 10.0}
    assert m.backward_transfer("mAP") == -10.0
    life = m.lifelong()
    assert [r["seen"]["mAP"] for r in life["per_row"]] == [None, 50.0, 50.0]
    assert [r["unseen"]["mAP"] for r in life["per_row"]] == [3.5, 25.0, 30.0]
    assert life["bwt"]["rank1"] == -10.0
    none = AccuracyMatrix(["A"], seen=["A"], unseen=[])
    none.add_row("initial", {"A": {"mAP": 1, "rank1": 2}})
    assert none.final()["unseen"] == {"mAP": None, "rank1": None}


def test_warmup_multistep_schedule():
    f = lambda e: warmup_multistep_factor(e, 10, 0.1, [30, 50], 0.1)  # noqa: E731
    assert f(0) == pytest.approx(0.1) and f(5) == pytest.approx(0.55) and f(10) == 1.0
    assert f(29) == 1.0 and f(30) == pytest.approx(0.1) and f(50) == pytest.approx(0.01)


def test_param_groups_apply_prefix_and_bias_multipliers_and_skip_frozen():
    import torch
    from torch import nn
    from lifelong_reid.strategy.optim import build_param_groups

    model = nn.Module()
    model.backbone = nn.Linear(2, 2)
    model.classifier = nn.Linear(2, 3, bias=False)
    model.frozen = nn.Linear(2, 2)
    model.frozen.requires_grad_(False)
    prompt = nn.Parameter(torch.zeros(4))
    cfg = RunConfig(lr=1e-3, lr_mults={"classifier": 10}, bias_lr_mult=2.0, weight_decay=1e-4)
    groups = build_param_groups(model, cfg, [{"params": [prompt], "lr_mult": 5.0, "weight_decay": 0.0,
                                              "name": "prompts"}])
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert lr_of[id(model.backbone.weight)] == pytest.approx(1e-3)
    assert lr_of[id(model.backbone.bias)] == pytest.approx(2e-3)
    assert lr_of[id(model.classifier.weight)] == pytest.approx(1e-2)
    assert lr_of[id(prompt)] == pytest.approx(5e-3)
    assert id(model.frozen.weight) not in lr_of
    assert next(g for g in groups if g["name"] == "prompts")["weight_decay"] == 0.0


def test_forgetting_takes_the_best_earlier_value_and_bwt_the_value_when_learnt():
    m = AccuracyMatrix(["A", "B", "C"], seen=["A", "B", "C"], unseen=[])
    for label, vals in (("initial", (0, 0, 0)), ("after:A", (50, 5, 5)), ("after:B", (60, 70, 5)),
                        ("after:C", (40, 65, 80))):
        m.add_row(label, {d: {"mAP": v, "rank1": v} for d, v in zip("ABC", vals)})
    assert m.forgetting("mAP") == {"per_domain": {"A": 20.0, "B": 5.0}, "mean": 12.5}
    assert m.backward_transfer("mAP") == pytest.approx(((40 - 50) + (65 - 70)) / 2)
    assert m.lifelong()["per_row"][2]["seen"]["mAP"] == 65.0
