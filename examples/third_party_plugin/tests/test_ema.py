"""The mean-teacher plugin, tested through lifelong_reid's public testing fixtures only."""
from __future__ import annotations

import copy

import pytest
import torch

from lifelong_reid.errors import ConfigError
from lifelong_reid.models import build_model
from lifelong_reid.registry import discover
from lifelong_reid.testing import states_equal, tiny_config

lreid_ema = pytest.importorskip("lreid_ema")


def test_installed_package_is_found_through_the_entry_point_group():
    info = discover(refresh=True)["ema"]
    assert info.source == "entry point (lreid-mean-teacher 0.1.0)" and info.version == "0.1.0"
    assert not info.error and info.settings is lreid_ema.EMASettings and not info.always_on


def test_ema_update_is_the_exponential_moving_average():
    torch.manual_seed(0)
    student = build_model(tiny_config())
    teacher = student.frozen_copy()
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    before = copy.deepcopy(teacher.state_dict())
    n = lreid_ema.ema_update(teacher, student, 0.9)
    assert n > 0
    w = "visual.conv1.weight"
    assert torch.allclose(teacher.state_dict()[w], 0.9 * before[w] + 0.1 * student.state_dict()[w], atol=1e-6)


def test_consistency_is_zero_for_equal_features_and_two_for_opposite_ones():
    f = torch.randn(4, 8)
    assert lreid_ema.consistency(f, f, "cosine").item() == pytest.approx(0.0, abs=1e-6)
    assert lreid_ema.consistency(f, -f, "cosine").item() == pytest.approx(2.0, abs=1e-6)
    assert lreid_ema.consistency(f, -f, "mse").item() == pytest.approx(4.0, abs=1e-5)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ConfigError, match="plugin 'ema': momentum must be in"):
        discover()["ema"].validate({"momentum": 1.5})
    with pytest.raises(ConfigError, match="unknown setting 'momentom' of plugin 'ema'"):
        discover()["ema"].validate({"momentom": 0.5})


def test_it_trains_with_a_finite_named_loss_that_moves_the_teacher(lreid_harness):
    harness = lreid_harness(names=["ema"], settings={"ema": {"momentum": 0.5}})
    losses = harness.train()
    assert losses and all("ema_consistency" in it for it in losses)
    assert losses[0]["ema_consistency"] == pytest.approx(0.0, abs=1e-5)  # the teacher starts as the student
    assert losses[-1]["ema_consistency"] > 0  # the student moved, the teacher follows behind it


def test_state_round_trips_through_a_checkpoint(lreid_harness):
    saved, again = lreid_harness(names=["ema"]).checkpoint_roundtrip()
    assert saved["plugins"]["ema"]["teacher"] is not None
    assert states_equal(saved["plugins"], again["plugins"]) and states_equal(saved["model"], again["model"])


def test_killed_and_resumed_run_equals_an_uninterrupted_one(lreid_harness, tmp_path):
    full, resumed = lreid_harness(names=["ema"], settings={"ema": {"momentum": 0.9}}).resume_matches(tmp_path)
    assert full["plugins"][-1]["name"] == "ema" and full["plugins"][-1]["settings"]["momentum"] == 0.9


def test_installed_is_not_active(lreid_harness, tmp_path):
    res = lreid_harness().run(tmp_path / "run")
    assert "ema" not in [p["name"] for p in res["plugins"]]
