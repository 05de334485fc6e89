"""Plugin registry and configuration: opt-in methods, settings in RunConfig and --set, what config.json and
results.json record, resume and eval rebuilding the same plugins, tracing, API versions, hook order."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from lifelong_reid import RunConfig, hookimpl
from lifelong_reid.cli import main
from lifelong_reid.errors import CheckpointError, ConfigError
from lifelong_reid.plugin_manager import get_plugin_manager, install_tracing, register
from lifelong_reid.registry import activate_plugins, discover, settings_docs
from lifelong_reid.testing import PluginHarness, run_with_plugins, tiny_config, tiny_stream

VLADR_TINY = {"num_attributes": 2, "prompt_length": 2, "stage1_epochs": 1}

EXPERIMENT = '''
from lifelong_reid.testing import tiny_config, tiny_stream

config = tiny_config(name="tiny-vladr", epochs=1)
config.plugins = {"vladr": {"num_attributes": 2, "prompt_length": 2, "stage1_epochs": 1}}

def stream(config):
    return tiny_stream(config, num_domains=2, num_unseen=0)
'''


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "vladr_tiny.py"
    path.write_text(EXPERIMENT)
    return path


@pytest.fixture(scope="module")
def vladr_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vladr")
    path = tmp / "vladr_tiny.py"
    path.write_text(EXPERIMENT)
    out = tmp / "run"
    r = invoke("run", path, "--output", out, "--set", "vladr.stage1_epochs=2")
    assert r.exit_code == 0, r.output
    return path, out


# --------------------------------------------------------------------------- settings and names


def test_set_reaches_plugin_settings_and_config_json_records_them(vladr_run):
    _, out = vladr_run
    config = json.loads((out / "config.json").read_text())
    assert config["plugins"]["vladr"]["stage1_epochs"] == 2 and config["plugins"]["vladr"]["num_attributes"] == 2
    assert config["plugins"]["vladr"]["weight_interpolation"] == 0.6  # defaults are written too
    active = {p["name"]: p for p in config["active_plugins"]}
    assert active["vladr"]["version"] == "0.1.0" and active["vladr"]["source"] == "built-in"
    assert active["core"]["kind"] == "core" and "experiment:vladr_tiny.py" in active
    results = json.loads((out / "results.json").read_text())
    assert [p["name"] for p in results["plugins"]] == [p["name"] for p in config["active_plugins"]]


def test_plugin_settings_are_checked_with_one_line_errors():
    c = RunConfig(plugins={"vladr": {}})
    c.override("vladr.stage1_epochs=3")
    assert c.plugins["vladr"] == {"stage1_epochs": 3}
    c.override("vladr.preset=official")  # a preset stays one setting; the given ones keep overriding it
    assert c.plugins["vladr"] == {"stage1_epochs": 3, "preset": "official"}
    for assignment, msg in (("vladr.stage1_epoch=3", "unknown setting 'stage1_epoch' of plugin 'vladr'; settings: "
                                                     "preset, num_attributes"),
                            ("vladr.preset=released", "unknown preset 'released' of plugin 'vladr'"),
                            ("vladr.stage1_epochs=abc", "vladr.stage1_epochs expects an integer"),
                            ("vladr.granularity=pixel", "plugin 'vladr': vladr granularity must be"),
                            ("nope.x=1", "unknown plugin 'nope'; known plugins: core, .*vladr")):
        with pytest.raises(ConfigError, match=msg):
            c.override(assignment)
    with pytest.raises(ConfigError, match="plugin 'vladr' is not active in this run .*add --plugin vladr"):
        RunConfig().override("vladr.stage1_epochs=3")
    with pytest.raises(ConfigError, match="plugins must map plugin names to settings dicts"):
        RunConfig(plugins={"vladr": 3})


def test_unknown_names_in_plugin_options_list_the_known_ones(experiment, tmp_path):
    for args in (["--plugin", "lfw"], ["--block", "lfw"], ["-p", "no:lfw"]):
        r = invoke("run", experiment, "--output", tmp_path / "o", *args)
        assert r.exit_code == 2 and "unknown plugin 'lfw'" in r.output and "vladr" in r.output, r.output
        assert not (tmp_path / "o").exists()


def test_blocking_a_method_of_the_experiment_drops_it_from_the_run(experiment, tmp_path):
    r = invoke("run", experiment, "--output", tmp_path / "o", "-p", "no:vladr", "--set", "epochs=1")
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "o" / "config.json").read_text())
    assert config["plugins"] == {} and "vladr" not in [p["name"] for p in config["active_plugins"]]


def test_method_plugins_are_opt_in(tmp_path):
    res = run_with_plugins([], tmp_path / "run")
    assert [p["name"] for p in res["plugins"]] == ["core"]  # vladr (and any installed method) did not run


def test_settings_of_every_registered_plugin_are_documented():
    for info in discover().values():
        if info.settings is not None:
            docs = info.settings_doc()
            missing = [f for f in info.defaults() if not docs.get(f)]
            assert not missing, f"plugin {info.name}: settings without documentation: {missing}"


def test_settings_docs_parse_grouped_names():
    from dataclasses import dataclass

    @dataclass
    class S:
        """Settings.

        Attributes:
            a, b: two numbers. c: a third one
                that wraps.
        """

        a: int = 1
        b: int = 2
        c: int = 3

    assert settings_docs(S) == {"a": "two numbers", "b": "two numbers", "c": "a third one that wraps."}


# --------------------------------------------------------------------------- resume and eval


def test_resume_refuses_other_plugin_settings_and_keeps_config_json(vladr_run):
    path, out = vladr_run
    before = (out / "config.json").read_text()
    r = invoke("run", path, "--output", out, "--resume", "--set", "vladr.stage1_epochs=3")
    assert r.exit_code == 2 and "plugins.vladr differ" in r.output, r.output
    r = invoke("run", path, "--output", out, "--resume", "--set", "vladr.stage1_epochs=2", "--set", "lr=0.1")
    assert r.exit_code == 2 and "(lr differ)" in r.output
    assert (out / "config.json").read_text() == before  # never a run made under two configs


def test_resume_with_a_blocked_plugin_is_refused(vladr_run):
    path, out = vladr_run
    r = invoke("run", path, "--output", out, "--resume", "--set", "vladr.stage1_epochs=2", "--block", "vladr")
    assert r.exit_code == 2 and "plugins.vladr differ" in r.output
    from lifelong_reid.inference import load_strategy
    from lifelong_reid.strategy.checkpoint import latest_checkpoint, load_checkpoint

    state = load_checkpoint(latest_checkpoint(out / "checkpoints"))
    cfg = tiny_config()
    from lifelong_reid.models import build_model
    from lifelong_reid.strategy import ReIDStrategy

    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=get_plugin_manager(), progress=False)
    with pytest.raises(CheckpointError, match="holds the state of 'vladr', which no active plugin claims"):
        strategy.load_state_dict(state["strategy"])
    assert load_strategy(latest_checkpoint(out / "checkpoints")).pm.get_plugin("vladr") is not None


def test_eval_rebuilds_the_plugins_of_a_checkpoint_without_the_experiment(vladr_run, tmp_path):
    from lifelong_reid.inference import load_strategy
    from lifelong_reid.strategy.checkpoint import latest_checkpoint
    from lifelong_reid.synthetic import SyntheticDomain

    _, out = vladr_run
    ckpt = latest_checkpoint(out / "checkpoints")
    strategy = load_strategy(ckpt)
    vladr = strategy.pm.get_plugin("vladr")
    assert vladr.cfg.stage1_epochs == 2 and hasattr(strategy.model, "vladr_queries")
    assert sorted(vladr.memory.prototypes) == ["0", "1"]
    SyntheticDomain("market", seed=5, num_train_ids=2, num_test_ids=4, num_cameras=2).save(tmp_path / "data" / "market")
    r = invoke("eval", ckpt, "--data-root", tmp_path / "data", "--domain", "market", "--output", tmp_path / "ev")
    assert r.exit_code == 0, r.output
    assert "mAP" in r.output and (tmp_path / "ev" / "results.json").exists()


def test_losses_log_starts_afresh_for_a_new_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "losses.log").write_text("stale lines of an interrupted first experience\n")
    run_with_plugins([], out)
    text = (out / "losses.log").read_text()
    assert "stale" not in text and text.count("Epoch 0 ended.") == 2


def test_killed_and_resumed_run_continues_losses_log_exactly(tmp_path):
    PluginHarness(names=["vladr"], settings={"vladr": VLADR_TINY}).resume_matches(tmp_path)


# --------------------------------------------------------------------------- loss names


class _Declares:
    loss_names = ("shared_term",)

    def __init__(self, name):
        self.name = name

    @hookimpl
    def lreid_extra_losses(self, outputs):
        return {"shared_term": outputs["global"].sum() * 0}


def test_two_plugins_declaring_one_loss_name_are_refused_at_registration():
    config = tiny_config()
    with pytest.raises(ConfigError, match="loss name 'shared_term' is declared by plugin 'first' and by plugin "
                                          "'second'"):
        activate_plugins(config, get_plugin_manager(), objects=[_Declares("first"), _Declares("second")])


def test_an_undeclared_clash_at_run_time_names_both_plugins(tmp_path):
    class Undeclared:
        def __init__(self, name):
            self.name = name

        @hookimpl
        def lreid_extra_losses(self, outputs):
            return {"term": outputs["global"].sum() * 0}

    with pytest.raises(ConfigError, match="loss term 'term' is returned by plugin '(a|b)' and by plugin '(a|b)'"):
        run_with_plugins([Undeclared("a"), Undeclared("b")], tmp_path)
    with pytest.raises(ConfigError, match="loss term 'id' is returned by the strategy and by plugin 'c'"):
        class Id:
            name = "c"

            @hookimpl
            def lreid_extra_losses(self, outputs):
                return {"id": outputs["global"].sum() * 0}
        run_with_plugins([Id()], tmp_path / "2")


# --------------------------------------------------------------------------- tracing


def test_trace_prints_one_line_per_call_with_shapes_and_filters(tmp_path):
    import io

    from lifelong_reid.models import build_model

    class Loss:
        name = "traced"

        @hookimpl
        def lreid_extra_losses(self, outputs):
            return {"t": outputs["global"].sum() * 0}

    for selection, expect, absent in (("1", "lreid_extra_losses [traced]", "lreid_vision_block_start"),  # unused hooks
                                      ("extra_losses", "lreid_extra_losses [traced]", "lreid_vision_block_start"),
                                      ("traced", "lreid_extra_losses [traced]", "lreid_vision_block_end")):
        stream = io.StringIO()
        pm = get_plugin_manager()
        register(pm, Loss(), name="traced")
        install_tracing(pm, selection, stream)
        from lifelong_reid.strategy import ReIDStrategy

        cfg = tiny_config()
        strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False)
        strategy.train(tiny_stream(cfg).train_stream[0])
        lines = stream.getvalue().splitlines()
        assert any(expect in line for line in lines), selection
        assert all(line.startswith("lreid-trace ") and line.endswith(" ms)") for line in lines)
        assert all("tensor([" not in line and "Conv2d" not in line for line in lines)  # shapes, not tensors
        assert absent is None or not any(absent in line for line in lines)
        if selection == "extra_losses":
            line = next(x for x in lines if "lreid_extra_losses" in x)
            assert "batch=ReIDBatch(B=8, images=(8, 3, 64, 32)" in line and "-> {t: tensor(0)}" in line


def test_trace_environment_variable_reaches_the_command_line(tmp_path):
    script = "from lifelong_reid.plugin_manager import get_plugin_manager\n" \
             "pm = get_plugin_manager()\n" \
             "pm.hook.lreid_inference_embedding(outputs={'feat': __import__('torch').zeros(2, 4)}, model=None)\n"
    env = {**os.environ, "LREID_TRACE_HOOKS": "inference_embedding"}
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert r.stderr.strip().startswith("lreid-trace lreid_inference_embedding [core] outputs={feat: tensor(2, 4)}")


# --------------------------------------------------------------------------- API version, order, broken packages


def test_a_plugin_written_for_this_api_keeps_working_when_a_hook_gains_an_argument():
    import pluggy

    from lifelong_reid.hooks import PROJECT, hookspec

    class NextMinorSpecs:  # a later 1.x release: lreid_after_epoch gains an argument
        @hookspec
        def lreid_after_epoch(self, strategy, epoch, losses, learning_rates):
            """..."""

    class WrittenFor10:
        seen = None

        @hookimpl
        def lreid_after_epoch(self, epoch, losses):
            WrittenFor10.seen = (epoch, losses)

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(NextMinorSpecs)
    pm.register(WrittenFor10())
    pm.check_pending()
    pm.hook.lreid_after_epoch(strategy=None, epoch=3, losses={"id": 1.0}, learning_rates=[0.1])
    assert WrittenFor10.seen == (3, {"id": 1.0})


def test_a_plugin_for_another_major_api_is_listed_but_refused(tmp_path):
    site = tmp_path / "site"
    (site / "future-1.0.dist-info").mkdir(parents=True)
    (site / "future_plugin.py").write_text(
        "from lifelong_reid.registry import PluginInfo\n"
        "PLUGIN = PluginInfo(name='future', factory=lambda s: object(), api_version=(2, 0))\n")
    (site / "broken_plugin.py").write_text("raise ImportError('missing dependency xyz')\n")
    (site / "future-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: future\nVersion: 1.0\n")
    (site / "future-1.0.dist-info" / "entry_points.txt").write_text(
        "[lifelong_reid.plugins]\nfuture = future_plugin:PLUGIN\nbroken = broken_plugin\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run([sys.executable, "-m", "lifelong_reid.cli", "plugins", "list"], env=env, capture_output=True,
                       text=True, check=True)
    assert "future 1.0  [entry point (future 1.0)" in r.stdout and "written for Plugin API 2.x" in r.stdout
    assert "BROKEN: its entry point broken_plugin failed to import (ImportError: missing dependency xyz)" in r.stdout
    assert "vladr 0.1.0" in r.stdout  # one broken package does not hide the others


class SnapshotFirst:
    """Records a weight of the model in lreid_after_experience before VLADR's weight interpolation."""

    name = "first"

    def __init__(self):
        self.values = []

    @hookimpl(tryfirst=True)
    def lreid_after_experience(self, strategy):
        self.values.append(strategy.model.visual.conv1.weight.detach().clone())


class SnapshotLast(SnapshotFirst):
    """The same, after every other implementation (so after the interpolation)."""

    name = "last"

    @hookimpl(trylast=True)
    def lreid_after_experience(self, strategy):
        self.values.append(strategy.model.visual.conv1.weight.detach().clone())


def test_hook_order_decides_whether_a_memory_sees_the_weights_before_or_after_interpolation(tmp_path):
    first, last = SnapshotFirst(), SnapshotLast()
    config = tiny_config(plugins={"vladr": dict(VLADR_TINY)})
    run_with_plugins([first, last], tmp_path / "run", config=config)
    # experience 1: no old model, nothing interpolated; experience 2: the weights are mixed in between
    assert torch.equal(first.values[0], last.values[0])
    assert not torch.equal(first.values[1], last.values[1])
