"""The strategy's general training contracts that methods select by config: a classifier that grows over the
stream's identities (``classifier="grow"``), a schedule stepped per iteration (``scheduler_step``), the
camera-diverse P x K sampler (``sampler="pk_camera"``) and the retrieval feature after the BNNecks
(``neck_feat``)."""
from __future__ import annotations

import pytest
import torch

from lifelong_reid import hookimpl
from lifelong_reid.errors import ConfigError
from lifelong_reid.models import build_model
from lifelong_reid.testing import run_with_plugins, tiny_config


class Watcher:
    """Records the classifier, the targets and the learning rate as training goes."""

    def __init__(self):
        self.rows_after, self.rows_before, self.targets, self.lrs, self.offsets = {}, {}, {}, [], {}
        self.cameras = []

    @hookimpl
    def lreid_before_experience(self, strategy, experience):
        t = experience.current_experience
        self.rows_before[t] = strategy.model.classifier.weight.detach().clone()
        self.offsets[t] = strategy.class_offset

    @hookimpl
    def lreid_extra_losses(self, batch, strategy):
        self.targets.setdefault(strategy.experience.current_experience, []).append(batch.targets.clone())
        self.cameras.append((batch.targets.clone(), batch.camids.clone()))
        self.lrs.append(strategy.optimizer.param_groups[0]["lr"])

    @hookimpl
    def lreid_after_experience(self, strategy, experience):
        self.rows_after[experience.current_experience] = strategy.model.classifier.weight.detach().clone()


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    watcher = Watcher()
    config = tiny_config(classifier="grow", scheduler_step="iteration", milestones=[1], gamma=0.1,
                         sampler="pk_camera")
    results = run_with_plugins([watcher], tmp_path_factory.mktemp("grow"), config=config)
    return watcher, results


def test_grown_classifier_keeps_the_earlier_identities_rows(grown):
    watcher, _ = grown
    assert watcher.rows_after[0].shape[0] == 6 and watcher.rows_before[1].shape[0] == 12  # 6 identities a domain
    assert torch.equal(watcher.rows_before[1][:6], watcher.rows_after[0])  # kept as trained, not re-drawn
    assert watcher.offsets == {0: 0, 1: 6}


def test_grown_classifier_offsets_the_labels_of_later_experiences(grown):
    watcher, _ = grown
    first, second = torch.cat(watcher.targets[0]), torch.cat(watcher.targets[1])
    assert set(first.tolist()) <= set(range(6)) and set(second.tolist()) <= set(range(6, 12))
    assert len(set(second.tolist())) > 1


def test_iteration_schedule_steps_after_every_optimizer_step(grown):
    watcher, _ = grown
    per_experience = len(watcher.targets[0])
    first = watcher.lrs[:per_experience]
    assert per_experience >= 2  # the milestone falls inside the first epoch
    assert first == pytest.approx([3e-4] + [3e-5] * (per_experience - 1))  # milestone at iteration 1
    assert watcher.lrs[per_experience] == pytest.approx(3e-4)  # a fresh schedule per experience


def test_camera_diverse_sampler_pairs_each_identity_across_cameras(grown):
    watcher, _ = grown
    for targets, camids in watcher.cameras:  # K = 2 images of each identity, each seen by 2 cameras
        for t in targets.unique():
            assert len(set(camids[targets == t].tolist())) == 2


def test_grow_refuses_pseudo_labels(tmp_path):
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.strategy import ReIDStrategy

    config = tiny_config(classifier="grow")
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=get_plugin_manager(), progress=False)
    strategy.targets = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ConfigError, match="classifier=reset"):
        strategy.set_targets([0, 1, 0, 1])


def test_retrieval_feature_after_the_bnneck():
    torch.manual_seed(0)
    model = build_model(tiny_config(neck_feat="after")).eval()
    out = model(torch.randn(3, 3, 64, 32))
    assert torch.equal(out["feat"], torch.cat([out["bn"], out["bn_proj"]], dim=1))
    model.neck_feat = "before"
    out = model(torch.randn(3, 3, 64, 32))
    assert torch.equal(out["feat"], torch.cat([out["global"], out["global_proj"]], dim=1))


def test_unknown_contract_values_are_refused():
    for key, value in (("classifier", "keep"), ("scheduler_step", "batch"), ("neck_feat", "middle"),
                       ("sampler", "random")):
        with pytest.raises(ConfigError, match=key):
            tiny_config(**{key: value})
