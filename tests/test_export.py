"""``lreid export`` (issue 15): ONNX, TorchScript and torch.export files of trained checkpoints (the core model
and a VLADR one, whose plugin modules are in the graph) give PyTorch's features (max |diff| of the
L2-normalised features <= 1e-4, identical top-k lists) at batch sizes other than the traced one; an operator the
exporter cannot convert is named in a one-line error."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from lifelong_reid import hookimpl
from lifelong_reid.cli import main
from lifelong_reid.export import ExportError, check_parity, example_images, export_model
from lifelong_reid.inference import load_strategy
from lifelong_reid.strategy.checkpoint import latest_checkpoint
from lifelong_reid.testing import PluginHarness

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    PluginHarness().run(out)
    return latest_checkpoint(out / "checkpoints")


@pytest.fixture(scope="module")
def vladr_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("export-vladr") / "run"
    PluginHarness(names=["vladr"], settings={"vladr": {"num_attributes": 2, "prompt_length": 2,
                                                       "stage1_epochs": 1}}).run(out)
    return latest_checkpoint(out / "checkpoints")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "torch-export"])
def test_an_exported_model_gives_pytorchs_features(checkpoint, tmp_path, fmt):
    strategy = load_strategy(checkpoint, device="cpu", progress=False)
    images = example_images(strategy, 12)
    example = images if fmt == "torch-export" else images[:2]  # torch.export keeps the example's batch size
    path = export_model(strategy, tmp_path / f"model.{fmt}", fmt, example=example)
    r = check_parity(strategy, path, fmt, images)
    assert r["max_abs_diff"] <= 1e-4 and r["top_k_equal"], r
    assert r["size_mb"] > 0 and r["exported_images_per_s"] > 0


def test_a_vladr_checkpoint_exports_with_its_plugin_modules(vladr_checkpoint, tmp_path):
    strategy = load_strategy(vladr_checkpoint, device="cpu", progress=False)
    assert hasattr(strategy.model, "vladr_queries")  # the plugin's module is part of the model
    images = example_images(strategy, 12)
    r = check_parity(strategy, export_model(strategy, tmp_path / "vladr.onnx", "onnx", example=images[:2]), "onnx",
                     images)
    assert r["max_abs_diff"] <= 1e-4 and r["top_k_equal"], r


def test_the_command_prints_parity_and_throughput(checkpoint, tmp_path):
    r = CliRunner().invoke(main, ["export", str(checkpoint), "--output", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    assert "top-8 lists identical" in r.output and "images/s, PyTorch" in r.output
    assert (tmp_path / "m.onnx").stat().st_size > 1e6


class _Bessel:
    """A retrieval feature through an operator ONNX does not have."""

    name = "bessel"

    @hookimpl(tryfirst=True)
    def lreid_inference_embedding(self, outputs):
        return torch.special.bessel_j0(outputs["feat"])


def test_an_operator_the_exporter_lacks_is_named(checkpoint, tmp_path):
    strategy = load_strategy(checkpoint, device="cpu", progress=False, plugins=[_Bessel()])
    with pytest.raises(ExportError, match="cannot export to onnx: operator aten::special_bessel_j0"):
        export_model(strategy, tmp_path / "m.onnx", "onnx")
