"""Synthetic CLIP pretraining: the contrastive loss falls, the checkpoint is written atomically with its
report, loads through the normal ``weights=`` path, and the cache reuses it."""
from __future__ import annotations

import json

import pytest
import torch

from lifelong_reid import RunConfig
from lifelong_reid.models import build_model, create_clip
from lifelong_reid.synthetic import pretrain
from lifelong_reid.synthetic.pretrain import pretrain_synthetic_clip, synthetic_clip_weights

SMALL = dict(image_size=(64, 32), domains=1, ids_per_domain=24, steps=24, batch_size=16, lr=1e-3, held_out_ids=8)


def test_pretraining_lowers_the_loss_and_the_checkpoint_loads(tmp_path):
    report = pretrain_synthetic_clip(tmp_path / "clip.pt", **SMALL)
    assert report["loss_last"] < 0.7 * report["loss_first"]
    assert 0.0 <= report["retrieval_top1"] <= 100.0 and report["images"] == 24 * 3
    assert json.loads((tmp_path / "clip.json").read_text())["loss_last"] == report["loss_last"]
    assert not list(tmp_path.glob("*.tmp"))
    saved = torch.load(tmp_path / "clip.pt")
    loaded, _ = create_clip("lreid-tiny-vit", None, str(tmp_path / "clip.pt"))
    state = loaded.state_dict()
    for name in ("token_embedding.weight", "text_projection", "visual.proj", "logit_scale"):
        assert torch.equal(state[name], saved[name])
    random_init, _ = create_clip("lreid-tiny-vit")
    assert not torch.equal(random_init.state_dict()["text_projection"], saved["text_projection"])
    model = build_model(RunConfig(model="lreid-tiny-vit", pretrained=None, weights=str(tmp_path / "clip.pt"),
                                  image_size=[64, 32], device="cpu"))
    assert model.visual.positional_embedding.shape == (1 + 4 * 2, 192)


def test_weights_are_built_once_then_taken_from_the_cache(tmp_path, monkeypatch):
    calls = []

    def fake(path, **kwargs):
        calls.append(kwargs)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")

    monkeypatch.setattr(pretrain, "pretrain_synthetic_clip", fake)
    first = synthetic_clip_weights(cache_dir=tmp_path, steps=5)
    assert synthetic_clip_weights(cache_dir=tmp_path, steps=5) == first and len(calls) == 1
    assert synthetic_clip_weights(cache_dir=tmp_path, steps=6) != first and len(calls) == 2
    assert calls[0] == {"model": "lreid-tiny-vit", "steps": 5}
    # a default spelled out is the same setting; an unknown one is an error
    assert synthetic_clip_weights(cache_dir=tmp_path, steps=5, image_size=[128, 64]) == first and len(calls) == 2
    with pytest.raises(TypeError, match="unknown synthetic CLIP setting"):
        synthetic_clip_weights(cache_dir=tmp_path, stpes=5)


def test_cli_prints_the_cached_path(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lifelong_reid.cli import main

    def fake(path, **kwargs):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        path.with_suffix(".json").write_text(json.dumps({"retrieval_top1_random": 1.5, "retrieval_top1": 70.0}))

    monkeypatch.setattr(pretrain, "pretrain_synthetic_clip", fake)
    monkeypatch.setenv("LREID_CACHE", str(tmp_path))
    result = CliRunner().invoke(main, ["synthetic-clip", "--steps", "3"])
    assert result.exit_code == 0, result.output
    path = result.output.strip().splitlines()[-1]
    assert path.startswith(str(tmp_path / "synthetic_clip")) and path.endswith(".pt")
    assert "1.5% (random) -> 70.0%" in result.output
