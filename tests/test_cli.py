"""The ``lreid`` command line end to end: results folder, resume, user errors, plugin listing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lifelong_reid.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

TINY_EXPERIMENT = '''
import os
from lifelong_reid import hookimpl
from lifelong_reid.testing import tiny_config, tiny_stream

config = tiny_config(name="tiny-cli", epochs=2)

def stream(config):
    return tiny_stream(config, num_domains=2, num_unseen=1)

@hookimpl
def lreid_before_epoch(strategy, epoch):
    crash_at = os.environ.get("LREID_TEST_CRASH_AT")
    if crash_at is not None and strategy.experience.current_experience == int(crash_at) and epoch == 1:
        raise KeyboardInterrupt("simulated kill")
'''


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "tiny_experiment.py"
    path.write_text(TINY_EXPERIMENT)
    return path


def invoke(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=True)


def test_run_writes_results_json_of_the_documented_shape(experiment, tmp_path):
    out = tmp_path / "run"
    r = invoke("run", experiment, "--output", out)
    assert r.exit_code == 0, r.output
    res = json.loads((out / "results.json").read_text())
    assert res["experiment"] == "tiny-cli" and res["seed"] == 0 and res["complete"]
    assert res["domains"] == {"seen": ["synth1", "synth2"], "unseen": ["synth-unseen1"]}
    assert res["matrix"]["rows"] == ["initial", "after:synth1", "after:synth2"]
    assert res["matrix"]["cols"] == ["synth1", "synth2", "synth-unseen1"]
    assert len(res["matrix"]["mAP"]) == 3 and all(len(r) == 3 for r in res["matrix"]["rank1"])
    last = res["matrix"]["mAP"][-1]
    assert res["final"]["seen"]["mAP"] == pytest.approx((last[0] + last[1]) / 2)
    assert res["final"]["unseen"]["mAP"] == pytest.approx(last[2])
    assert set(res["lifelong"]) == {"forgetting", "bwt", "per_row"}
    assert res["lifelong"]["forgetting"]["mAP"]["mean"] == pytest.approx(res["matrix"]["mAP"][1][0] - last[0])
    assert set(res["per_domain"]["synth1"]) == {"mAP", "rank1", "rank5", "rank10", "rank20", "mINP", "num_queries",
                                                "num_valid_queries", "float64_queries"}
    assert res["per_domain"]["synth1"]["num_valid_queries"] == res["per_domain"]["synth1"]["num_queries"] > 0
    assert res["skipped_steps"] == 0
    import stat
    for name in ("results.json", "config.json", "report.md", "checkpoints/exp2_synth2.pt"):  # one mode for all
        assert stat.S_IMODE((out / name).stat().st_mode) == stat.S_IMODE((out / "run.log").stat().st_mode), name
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["exp1_synth1.pt", "exp2_synth2.pt"]
    assert "final seen (anti-forgetting)" in r.output and "initial" in r.output
    assert (out / "run.log").stat().st_size > 0
    report = (out / "report.md").read_text()
    assert "![mAP](matrix_mAP.png)" in report and "| after:synth2 |" in report
    from PIL import Image
    for png in ("matrix_mAP.png", "matrix_rank1.png", "cmc.png", "ranked_synth1.png", "ranked_synth-unseen1.png"):
        assert f"({png})" in report
        with Image.open(out / png) as im:
            assert im.size[0] > 100 and im.size[1] > 100
            colours = set(im.convert("RGB").getdata())
            assert len(colours) > 20  # a drawn figure, not a blank canvas
    with Image.open(out / "ranked_synth1.png") as im:  # green and red frames are drawn
        pixels = set(im.convert("RGB").getdata())
        assert (26, 152, 80) in pixels or (215, 48, 39) in pixels


def test_killed_run_resumes_to_the_same_results(experiment, tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert invoke("run", experiment, "--output", full).exit_code == 0
    r = invoke("run", experiment, "--output", killed, env={"LREID_TEST_CRASH_AT": "1"})
    assert r.exit_code != 0
    assert [p.name for p in (killed / "checkpoints").iterdir()] == ["exp1_synth1.pt"]
    assert json.loads((killed / "results.json").read_text())["complete"] is False
    r = invoke("run", experiment, "--output", killed, "--resume")
    assert r.exit_code == 0, r.output
    assert "resuming from" in r.output
    assert json.loads((killed / "results.json").read_text()) == json.loads((full / "results.json").read_text())


@pytest.mark.parametrize("crash_at", ["0", "1"])
def test_a_run_killed_inside_an_experience_resumes_from_its_epoch_checkpoint(experiment, tmp_path, crash_at):
    """checkpoint_every=1: the kill in the second epoch loses one epoch, and the resumed run (which restores the
    optimizer, schedule, random generators and targets there) ends with the uninterrupted run's results.json and
    losses.log."""
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert invoke("run", experiment, "--output", full, "--set", "checkpoint_every=1").exit_code == 0
    r = invoke("run", experiment, "--output", killed, "--set", "checkpoint_every=1",
               env={"LREID_TEST_CRASH_AT": crash_at})
    assert r.exit_code != 0
    t = int(crash_at)
    expected = [*(["exp1_synth1.pt"] if t == 1 else []), f"exp{t + 1}_synth{t + 1}_epoch1.pt"]
    assert sorted(p.name for p in (killed / "checkpoints").iterdir()) == expected
    r = invoke("run", experiment, "--output", killed, "--resume", "--set", "checkpoint_every=1")
    assert r.exit_code == 0, r.output
    assert f"({t} experience(s) and 1 epoch(s) of the next done)" in r.output
    assert json.loads((killed / "results.json").read_text()) == json.loads((full / "results.json").read_text())
    assert (killed / "losses.log").read_text() == (full / "losses.log").read_text()
    # epoch checkpoints are gone once their experience ended; the last keep_checkpoints=2 experiences stay
    assert sorted(p.name for p in (killed / "checkpoints").iterdir()) == ["exp1_synth1.pt", "exp2_synth2.pt"]


def test_existing_output_is_not_overwritten(experiment, tmp_path):
    out = tmp_path / "run"
    assert invoke("run", experiment, "--output", out, "--set", "epochs=1").exit_code == 0
    before = (out / "results.json").read_text()
    r = invoke("run", experiment, "--output", out)
    assert r.exit_code == 2 and "already holds a run; continue it with --resume" in r.output
    assert (out / "results.json").read_text() == before


def test_resume_with_other_settings_is_refused(experiment, tmp_path):
    out = tmp_path / "run"
    invoke("run", experiment, "--output", out, env={"LREID_TEST_CRASH_AT": "1"})
    r = invoke("run", experiment, "--output", out, "--resume", "--seed", "3")
    assert r.exit_code == 2 and "seed" in r.output and "other settings" in r.output


@pytest.mark.parametrize("args, message", [
    (["--data-root", "/nonexistent"], "/nonexistent/market1501-mini: dataset folder not found"),
    ([], "pass --data-root"),
    (["--data-root", "DATA", "--set", "model=ViT-Q-99"], "unknown model name 'ViT-Q-99'"),
    (["--data-root", "DATA", "--set", "lr"], "expected key=value"),
])
def test_user_errors_are_one_line(args, message, tmp_path):
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    args = [str(data) if a == "DATA" else a for a in args]
    if "DATA" in args or (str(data) in args and not data.is_dir()):
        pytest.skip("../shared/data is not available")
    r = invoke("run", EXAMPLES / "market1501_mini.py", "--output", tmp_path / "o", *args)
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], r.output
    assert "Traceback" not in r.output


def test_empty_dataset_folder_is_named(tmp_path):
    (tmp_path / "market1501-mini" / "bounding_box_train").mkdir(parents=True)
    r = invoke("run", EXAMPLES / "market1501_mini.py", "--data-root", tmp_path, "--output", tmp_path / "o")
    assert r.exit_code == 2 and "bounding_box_train holds no images" in r.output


def test_experiment_without_config_is_named(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    r = invoke("run", bad)
    assert r.exit_code == 2 and "bad.py: define `config = RunConfig(...)`" in r.output


def test_plugins_list_shows_builtins_their_hooks_and_settings():
    r = invoke("plugins", "list")
    assert r.exit_code == 0, r.output
    assert "core 0.1.0  [built-in; core, always on]" in r.output
    assert "    hooks: lreid_inference_embedding" in r.output
    assert "vladr 0.1.0  [built-in; method, opt-in]" in r.output
    assert "    losses: vladr_i2t, vladr_cma, vladr_ida, vladr_kl" in r.output
    assert "    vladr.stage1_epochs = 10" in r.output and "    vladr.weight_interpolation = 0.6" in r.output


def test_plugins_list_shows_an_experiment_files_own_plugins(experiment):
    r = invoke("plugins", "list", "--experiment", experiment)
    assert r.exit_code == 0, r.output
    assert "experiment:tiny_experiment.py  [experiment file; method, opt-in]" in r.output
    assert "    hooks: lreid_before_epoch" in r.output


def test_unreadable_image_stops_the_run_before_training(tmp_path):
    from PIL import Image
    root = tmp_path / "market1501-mini"
    for folder, names in {"bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg"],
                          "query": ["0001_c1s1_001051_00.jpg"],
                          "bounding_box_test": ["0001_c2s1_000301_01.jpg"]}.items():
        (root / folder).mkdir(parents=True)
        for n in names:
            Image.new("RGB", (8, 16)).save(root / folder / n)
    (root / "bounding_box_test" / "0001_c3s1_000302_01.jpg").write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "o"
    r = invoke("run", EXAMPLES / "market1501_mini.py", "--data-root", tmp_path, "--output", out, "--set", "batch_p=1")
    assert r.exit_code == 2 and "0001_c3s1_000302_01.jpg: cannot read image" in r.output, r.output
    assert not out.exists()  # stopped before the output folder was made



def test_third_party_plugin_is_found_through_the_entry_point_group(tmp_path):
    """A package installed elsewhere registers a plugin with no change to this repository."""
    import os
    import subprocess
    import sys
    site = tmp_path / "site"
    (site / "thirdparty-0.1.dist-info").mkdir(parents=True)
    (site / "thirdparty_plugin.py").write_text(
        "from lifelong_reid import hookimpl\n\n@hookimpl\ndef lreid_extra_losses(outputs):\n    return None\n")
    (site / "thirdparty-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty\nVersion: 0.1\n")
    (site / "thirdparty-0.1.dist-info" / "entry_points.txt").write_text(
        "[lifelong_reid.plugins]\nmyplugin = thirdparty_plugin\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run([sys.executable, "-m", "lifelong_reid.cli", "plugins", "list"], env=env,
                       capture_output=True, text=True, check=True)
    assert "myplugin 0.1  [entry point (thirdparty 0.1); method, opt-in]" in r.stdout
    assert "    hooks: lreid_extra_losses" in r.stdout
    assert "core 0.1.0  [built-in" in r.stdout


def test_an_out_of_range_setting_stops_before_anything_is_written(experiment, tmp_path):
    out = tmp_path / "run"
    r = invoke("run", experiment, "--output", out, "--set", "lr=-1")
    assert r.exit_code == 2, r.output
    assert "lr must be a finite number > 0, got -1.0" in r.output and "Traceback" not in r.output
    assert not out.exists()
