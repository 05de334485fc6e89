"""The vision forward contract: named spans and (B, M, N, D) views, records, parallel adapters, per-modality
stacks, named heads, copies of the model."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from lifelong_reid.errors import ConfigError
from lifelong_reid.models import VisionContext, bottleneck_adapter, build_model
from lifelong_reid.plugin_manager import get_plugin_manager, register
from lifelong_reid.testing import tiny_config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_model(tiny_config()).eval()
    m.reset_classifier(5)
    return m


def _ctx(b=2, m=3, d=8):
    tokens = torch.arange(b * m * 3 * d, dtype=torch.float32).view(b * m, 3, d)  # CLS + 2 patches
    return VisionContext(tokens, torch.zeros(b, m, 3, 4, 4), (1, 2), num_modalities=m)


def test_views_are_sample_major_and_spans_keep_their_names():
    ctx = _ctx()
    assert ctx.view().shape == (2, 3, 3, 8) and ctx.spans == {"cls": (0, 1), "patches": (1, 3)}
    assert torch.equal(ctx.view()[1, 2], ctx.tokens[1 * 3 + 2])  # sample 1, modality 2
    ctx.add_tokens("a", torch.ones(2, 8))  # shared
    ctx.add_tokens("b", torch.full((3, 1, 8), 7.0), per_modality=True)
    ctx.add_tokens("c", torch.zeros(2, 4, 8))  # per sample, repeated over modalities
    assert ctx.spans["b"] == (5, 6) and ctx.spans["c"] == (6, 10) and ctx.extra_spans() == ["a", "b", "c"]
    ctx.pop_tokens("a")
    assert ctx.spans["b"] == (3, 4) and ctx.spans["c"] == (4, 8)  # names survive another plugin's removal
    assert torch.equal(ctx.get_tokens("b"), torch.full((6, 1, 8), 7.0))
    ctx.set_tokens("b", ctx.get_tokens("b", view=True) * 2)
    assert ctx.get_tokens("b", view=True).shape == (2, 3, 1, 8) and ctx.get_tokens("b").max() == 14.0
    with pytest.raises(ValueError, match="already added"):
        ctx.add_tokens("b", torch.ones(1, 8))
    with pytest.raises(ValueError, match="belongs to the encoder"):
        ctx.pop_tokens("cls")
    with pytest.raises(KeyError, match="spans present: cls, patches, b, c"):
        ctx.get_tokens("nope")
    with pytest.raises(ValueError, match="width 4"):
        ctx.add_tokens("w", torch.ones(1, 4))


def test_records_collect_per_call_values():
    ctx = _ctx()
    for i in range(3):
        ctx.record("x", i)
    assert ctx.records["x"] == [0, 1, 2]


def test_outputs_have_declared_names_and_the_modality_axis_for_tuples(model):
    out = model(torch.randn(2, 3, 3, 64, 32))
    d, e = model.visual.width, model.visual.output_dim
    assert out["tokens"].shape == (2, 3, 9, d) and out["patch_tokens"].shape == (2, 3, 8, d)
    assert out["modal_global"].shape == (2, 3, d) and out["modal_feat"].shape == (2, 3, d + e)
    assert torch.allclose(out["global"], out["modal_global"].mean(1))
    assert out["feat_spans"] == {"model": (0, 3 * (d + e))}
    with pytest.raises(KeyError, match="no model output 'nope'; outputs present: .*global"):
        out["nope"]


class ZeroAdapters:
    @staticmethod
    def zero(module):
        for p in module.parameters():
            nn.init.zeros_(p)
        return module


def test_a_zero_parallel_adapter_leaves_the_encoder_unchanged_and_a_trained_one_gets_gradients(model):
    m = copy.deepcopy(model)
    x = torch.randn(2, 3, 64, 32)
    before = m(x)["global"]
    d = m.visual.width
    m.visual.add_adapter("pfa", lambda i: bottleneck_adapter(d, 2 * d), branch="mlp", input="block")
    m.visual.add_adapter("attn", lambda i: ZeroAdapters.zero(nn.Linear(d, d)), branch="attn", input="norm",
                         layers=[1, 2])
    assert set(m.visual.adapters["attn"]) == {"1", "2"}
    assert torch.allclose(m(x)["global"], before, atol=1e-5)  # zero-initialised output layers
    assert any(k.startswith("visual.adapters.pfa.3.") for k in m.state_dict())
    for p in m.visual.blocks.parameters():
        p.requires_grad_(False)
    m(x)["global"].pow(2).sum().backward()
    assert m.visual.adapters["pfa"]["0"][2].weight.grad.abs().sum() > 0
    assert m.visual.blocks[0].mlp.c_fc.weight.grad is None
    with pytest.raises(ConfigError, match="already added"):
        m.visual.add_adapter("pfa", nn.Identity())
    with pytest.raises(ConfigError, match="out of range"):
        m.visual.add_adapter("far", nn.Identity(), layers=[9])
    m.visual.remove_adapter("pfa")
    assert "pfa" not in m.visual.adapters


def test_adapter_input_is_the_block_state_or_its_norm(model):
    m = copy.deepcopy(model)
    seen = {}

    class Spy(nn.Module):
        def __init__(self, key):
            super().__init__()
            self.key = key

        def forward(self, x):
            seen[self.key] = x.detach().clone()
            return torch.zeros_like(x)

    m.visual.add_adapter("pre", Spy("block"), layers=[0], input="block")
    m.visual.add_adapter("post", Spy("norm"), layers=[0], input="norm")
    m(torch.randn(1, 3, 64, 32))
    block = m.visual.blocks[0]
    assert torch.allclose(block.ln_2(seen["block"]), seen["norm"], atol=1e-6)


def test_per_modality_stacks_start_equal_to_the_shared_one_and_train_apart(model):
    m = copy.deepcopy(model)
    x = torch.randn(2, 3, 3, 64, 32)
    shared = m(x)
    m.visual.split_modality_stacks(3)
    split = m(x)
    assert m.visual.num_stacks == 3 and torch.allclose(split["modal_global"], shared["modal_global"], atol=1e-5)
    with torch.no_grad():
        m.visual.modality_blocks[0][0].mlp.c_fc.weight.mul_(2)  # modality 1 only
    moved = m(x)["modal_global"]
    assert torch.allclose(moved[:, 0], shared["modal_global"][:, 0], atol=1e-5)
    assert not torch.allclose(moved[:, 1], shared["modal_global"][:, 1], atol=1e-4)
    with pytest.raises(ConfigError, match="3 modality stacks but the batch has 2"):
        m(torch.randn(1, 2, 3, 64, 32))
    with pytest.raises(ConfigError, match="already has 3"):
        m.visual.split_modality_stacks(2)
    assert build_model(tiny_config(modality_stacks=3)).visual.num_stacks == 3


def test_a_split_from_a_later_block_keeps_a_shared_backbone(model):
    m = copy.deepcopy(model)
    x = torch.randn(2, 3, 3, 64, 32)
    shared = m(x)
    n_before = sum(p.numel() for p in m.parameters())
    m.visual.split_modality_stacks(3, from_layer=3)  # blocks 0-2 shared, block 3 per modality
    assert m.visual.stack(2)[0] is m.visual.blocks[0] and m.visual.stack(2)[3] is not m.visual.blocks[3]
    block = sum(p.numel() for p in m.visual.blocks[3].parameters())
    assert sum(p.numel() for p in m.parameters()) == n_before + 2 * block
    assert torch.allclose(m(x)["modal_global"], shared["modal_global"], atol=1e-5)
    m.visual.split_modality_stacks(3, from_layer=3)  # same arguments: nothing
    with pytest.raises(ConfigError, match="from block 3, not 3 from block 0"):
        m.visual.split_modality_stacks(3, from_layer=0)
    with pytest.raises(ConfigError, match="block index"):
        copy.deepcopy(model).visual.split_modality_stacks(3, from_layer=4)


def test_heads_are_declared_by_name_sized_with_the_classifiers_and_skipped_in_copies(model):
    m = copy.deepcopy(model)
    head = m.add_head("extra", 16, retrieval=True)
    assert m.add_head("extra", 16, retrieval=True) is head  # idempotent
    assert head.classifier.out_features == 5
    m.reset_classifier(7)
    assert head.classifier.out_features == 7
    with pytest.raises(ConfigError, match="already exists with other settings"):
        m.add_head("extra", 32)
    with pytest.raises(ConfigError, match="is a model output"):
        m.add_head("patch_tokens", 16)
    pm = get_plugin_manager()
    m.hook = pm.hook
    with pytest.raises(ConfigError, match="head 'extra' .*got no feature"):
        m(torch.randn(2, 3, 64, 32))
    m.hook = None
    out = m(torch.randn(2, 3, 64, 32))  # without plugins the head is skipped
    assert "extra_logits" not in out and out["feat"].shape[1] == m.feat_dim
    assert [h.name for h in m.head_specs] == ["global", "global_proj", "extra"]


def test_the_model_deep_copies_without_the_plugin_relay(model):
    m = copy.deepcopy(model)
    pm = get_plugin_manager()
    m.hook = pm.hook
    twin = copy.deepcopy(m)  # the relay holds modules: it must not be copied
    assert twin.hook is None and m.hook is pm.hook
    old = m.frozen_copy()
    assert old.hook is None and not old.training and not any(p.requires_grad for p in old.parameters())
    assert old.tokenizer is m.tokenizer
    x = torch.randn(2, 3, 64, 32)
    assert torch.allclose(old(x)["feat"], m.eval()(x)["feat"], atol=1e-6)


def test_attention_masks_of_every_shape_reach_the_blocks(model):
    from lifelong_reid import hookimpl

    class Mask:
        def __init__(self, shape):
            self.shape = shape

        @hookimpl
        def lreid_vision_attention_mask(self, context):
            n = context.num_tokens
            mask = torch.zeros(n, n)
            mask[0, 1:] = float("-inf")  # CLS sees only itself
            return mask.expand(*self.shape, n, n) if self.shape else mask

    x = torch.randn(2, 3, 3, 64, 32)
    for shape in ((), (2,), (6,), (2, 3)):
        m = copy.deepcopy(model)
        pm = get_plugin_manager()
        register(pm, Mask(shape))
        m.hook = pm.hook
        y = x.clone()
        y[:, :, :, :8] = 0  # change the images: CLS must not notice
        assert torch.allclose(m(x)["global"], m(y)["global"], atol=1e-5), shape
