"""The strategy learns, runs under autocast, and reports through the plugin manager's tracing."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from lifelong_reid.testing import run_with_plugins, tiny_config
from lifelong_reid.streams import synthetic_lifelong_stream
from lifelong_reid.data import build_transforms


def test_training_improves_map_on_a_synthetic_domain(tmp_path):
    cfg = tiny_config(epochs=6, batch_p=8, batch_k=4)
    bm = synthetic_lifelong_stream(1, 0, seed=0, num_train_ids=24, num_test_ids=12, num_cameras=2,
                                   images_per_camera=3, transforms=build_transforms(cfg.image_size, pad=2))
    res = run_with_plugins([], tmp_path, config=cfg, benchmark=bm)
    initial, trained = res["matrix"]["mAP"][0][0], res["matrix"]["mAP"][1][0]
    assert trained > initial + 10, (initial, trained)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_runs_and_losses_stay_finite(amp, tmp_path):
    res = run_with_plugins([], tmp_path, config=tiny_config(amp=amp))
    assert res["complete"]
    assert all(math.isfinite(v) for row in res["matrix"]["mAP"] for v in row)
    assert "Loss_Epoch/id" in (tmp_path / "losses.log").read_text()


def test_hook_tracing_by_environment_variable():
    code = ("from lifelong_reid.plugin_manager import get_plugin_manager\n"
            "pm = get_plugin_manager()\n"
            "pm.hook.lreid_inference_embedding(outputs={'feat': 1}, model=None)\n")
    r = subprocess.run([sys.executable, "-c", code], env={"LREID_TRACE_HOOKS": "1", "PATH": ""},
                       capture_output=True, text=True, check=True)
    assert "lreid_inference_embedding" in r.stderr


def test_training_and_evaluation_with_dataloader_workers(tmp_path):
    """Synthetic domains are pickled into worker processes; the initial row needs no training, so it must
    equal the single-process run exactly."""
    a = run_with_plugins([], tmp_path / "w0", config=tiny_config())
    b = run_with_plugins([], tmp_path / "w2", config=tiny_config(num_workers=2))
    assert b["complete"] and b["matrix"]["rows"] == a["matrix"]["rows"]
    assert b["matrix"]["mAP"][0] == a["matrix"]["mAP"][0]


def test_a_run_depends_on_its_seed_only(tmp_path):
    import torch
    torch.manual_seed(123)
    a = run_with_plugins([], tmp_path / "a", config=tiny_config())
    torch.randn(1000)  # disturb the global generator: the run must not depend on it
    b = run_with_plugins([], tmp_path / "b", config=tiny_config())
    c = run_with_plugins([], tmp_path / "c", config=tiny_config(seed=1))
    assert a["matrix"] == b["matrix"]
    assert c["matrix"]["mAP"][0] != a["matrix"]["mAP"][0]


def test_rerank_option_changes_the_evaluation(tmp_path):
    plain = run_with_plugins([], tmp_path / "plain", config=tiny_config(epochs=0))
    rr = run_with_plugins([], tmp_path / "rr", config=tiny_config(epochs=0, rerank=True, rerank_k1=4, rerank_k2=2))
    assert rr["matrix"]["mAP"][0] != plain["matrix"]["mAP"][0]
