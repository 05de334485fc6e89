"""The CLIP ReID model: loading, positional-embedding interpolation, output contract, gradients."""
from __future__ import annotations

import open_clip
import pytest
import torch

from lifelong_reid.errors import ModelLoadError
from lifelong_reid.models import build_model, create_clip, interpolate_pos_embed
from lifelong_reid.testing import tiny_config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_model(tiny_config())
    m.reset_classifier(7)
    return m


def test_output_contract_shapes(model):
    out = model(torch.randn(3, 3, 64, 32))
    d, e = model.visual.width, model.visual.output_dim
    assert out["feat"].shape == (3, d + e) == (3, model.feat_dim)
    assert out["global"].shape == out["bn"].shape == (3, d)
    assert out["global_proj"].shape == out["bn_proj"].shape == (3, e)
    assert out["logits"].shape == out["logits_proj"].shape == (3, 7)
    assert out["tokens"].shape == (3, 1 + 4 * 2, d)  # 64x32 at patch 16: 4x2 grid


def test_gradients_reach_the_encoder_and_not_the_text_side(model):
    model.zero_grad()
    out = model(torch.randn(4, 3, 64, 32))
    (out["logits"].sum() + out["global"].pow(2).sum()).backward()
    assert model.visual.conv1.weight.grad.abs().sum() > 0
    assert model.visual.positional_embedding.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.clip.parameters())
    assert model.bottleneck.bias.grad is None  # BNNeck bias frozen


def test_text_encoder_and_tokenizer_stay_available(model):
    feats = model.encode_text(model.tokenize(["a man in a red coat", "a woman"]))
    assert feats.shape == (2, model.visual.output_dim)


def test_reset_classifier_resizes_per_experience(model):
    model.reset_classifier(11)
    assert model(torch.randn(2, 3, 64, 32))["logits"].shape == (2, 11)
    model.reset_classifier(7)


def test_pos_embed_interpolation_keeps_cls_and_is_identity_on_same_grid():
    pos = torch.randn(1 + 14 * 14, 8)
    assert torch.equal(interpolate_pos_embed(pos, (14, 14), (14, 14)), pos)
    new = interpolate_pos_embed(pos, (14, 14), (16, 8))
    assert new.shape == (1 + 16 * 8, 8) and torch.equal(new[0], pos[0])
    const = torch.ones(1 + 14 * 14, 8)
    assert torch.allclose(interpolate_pos_embed(const, (14, 14), (16, 8)), torch.ones(1 + 128, 8))


def test_overlapping_stride_grows_the_grid():
    m = build_model(tiny_config(stride=8))
    assert m.visual.grid == (7, 3)
    assert m(torch.randn(2, 3, 64, 32))["tokens"].shape[1] == 1 + 21


def test_wrong_input_size_is_a_clear_error(model):
    with pytest.raises(ValueError, match="set image_size"):
        model(torch.randn(1, 3, 128, 64))


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelLoadError, match="unknown model name 'ViT-Q-99'"):
        create_clip("ViT-Q-99")


def test_unknown_pretrained_tag_lists_the_available_ones():
    with pytest.raises(ModelLoadError, match="unknown pretrained tag 'nope' for ViT-B-16; available: .*openai"):
        create_clip("ViT-B-16", pretrained="nope")


def test_offline_download_failure_is_a_clear_error(monkeypatch):
    def no_network(*args, **kwargs):
        raise ConnectionError("no route to host")
    monkeypatch.setattr(open_clip, "download_pretrained", no_network)
    with pytest.raises(ModelLoadError, match="seems offline.*--set weights="):
        create_clip("ViT-B-16", pretrained="openai")


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        create_clip("lreid-tiny-vit", weights=str(tmp_path / "none.pt"))


def test_local_weights_file_is_loaded(tmp_path):
    torch.manual_seed(1)
    src, _ = create_clip("lreid-tiny-vit")
    path = tmp_path / "tiny.pt"
    torch.save(src.state_dict(), path)
    torch.manual_seed(2)
    loaded, _ = create_clip("lreid-tiny-vit", pretrained=None, weights=str(path))
    assert torch.equal(loaded.visual.conv1.weight, src.visual.conv1.weight)
