"""One contract over every registered plugin (timm's test_models.py is the model): built-in and installed
third-party plugins alike train a few iterations with finite named losses, round-trip their state through a
checkpoint, resume a killed run to the results of an uninterrupted one, can be blocked, and document their
settings. A plugin states what the test needs in its registry entry (``PluginInfo.contract``)."""
from __future__ import annotations

import pytest

from lifelong_reid.errors import ConfigError
from lifelong_reid.registry import discover
from lifelong_reid.testing import PluginHarness, run_with_plugins, states_equal, tiny_config

PLUGINS = sorted(discover())


def harness(name, **kwargs):
    info = discover()[name]
    contract = info.contract or {}
    names = [] if info.always_on else [name]
    return PluginHarness(names=names, settings={name: dict(contract.get("settings", {}))} if names else None,
                         stream=contract.get("stream", "lifelong"), **kwargs)


@pytest.mark.parametrize("name", PLUGINS)
def test_registry_entry_is_complete(name):
    info = discover()[name]
    assert not info.error, info.error
    assert info.version and info.description and info.kind in ("method", "observer", "core")
    if info.settings is not None:
        docs = info.settings_doc()
        assert all(docs.get(f) for f in info.defaults()), f"undocumented settings of {name}"
        info.validate(info.contract.get("settings", {}))


@pytest.mark.parametrize("name", PLUGINS)
def test_trains_with_finite_named_losses(name):
    info = discover()[name]
    iterations = harness(name).train()
    assert iterations, "no training iteration ran"
    returned = set().union(*iterations)
    # the identity loss runs (a method may move it to its own head and switch the triplet term off with
    # model.set_head_losses, as MUVA does), unless the plugin's own terms replace both strategy losses (FIRM's
    # cluster memories on an unsupervised stream): something must train
    assert "id" in returned or returned & set(info.loss_names), returned
    undeclared = returned - {"id", "triplet", "loss"} - set(info.loss_names)
    assert not undeclared, f"{name} returns loss terms it does not declare in loss_names: {undeclared}"


@pytest.mark.parametrize("name", PLUGINS)
def test_state_round_trips_through_a_checkpoint(name):
    saved, again = harness(name).checkpoint_roundtrip()
    assert states_equal(saved["plugins"], again["plugins"])
    assert states_equal(saved["model"], again["model"])


@pytest.mark.parametrize("name", PLUGINS)
def test_a_killed_and_resumed_run_equals_an_uninterrupted_one(name, tmp_path):
    h = harness(name)
    if h.stream_kind != "lifelong":
        pytest.skip("single-experience stream: resume is exercised by the lifelong plugins")
    h.resume_matches(tmp_path)


@pytest.mark.parametrize("name", PLUGINS)
def test_a_run_killed_inside_an_experience_resumes_to_the_uninterrupted_one(name, tmp_path):
    harness(name).epoch_resume_matches(tmp_path)


@pytest.mark.parametrize("name", PLUGINS)
def test_can_be_blocked(name, tmp_path):
    info = discover()[name]
    config = tiny_config(plugins={} if info.always_on else {name: dict(info.contract.get("settings", {}))})
    if name == "core":  # documented: without core no plugin gives the retrieval embedding
        with pytest.raises(ConfigError, match="lreid_inference_embedding"):
            run_with_plugins([], tmp_path, config=config, block=[name])
        return
    res = run_with_plugins([], tmp_path, config=config, block=[name])
    assert name not in [p["name"] for p in res["plugins"]] and res["complete"]
