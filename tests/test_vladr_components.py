"""VLADR components: prompts read with captions, orthogonality, per-attribute visual queries, the
prototype memory and the stage-2 losses (hand-computed values, gradients, state round trips)."""
from __future__ import annotations

import math

import pytest
import torch

from lifelong_reid.models import build_model
from lifelong_reid.plugins.vladr.losses import (affinity_kl, cma_instance_loss, cma_loss, cma_matching_loss,
                                               cosine_distance, ida_loss, region_affinity_kl)
from lifelong_reid.plugins.vladr.memory import AttributePrototypeMemory
from lifelong_reid.plugins.vladr.plugin import VLADRConfig, VLADRPlugin, mix_weights
from lifelong_reid.plugins.vladr.prompts import (AttributePromptLearner, orthogonality_loss,
                                                 random_partition_captions)
from lifelong_reid.plugins.vladr.visual import AttributeQueries, RegionCrossAttention
from lifelong_reid.testing import tiny_config


@pytest.fixture(scope="module")
def model():
    return build_model(tiny_config())


def test_prompts_give_global_and_attribute_features_and_only_prompts_learn(model):
    pl = AttributePromptLearner(model.clip, num_attributes=3, prompt_length=2)
    tokens = model.tokenize(["a man in a red shirt", "a woman with a black backpack"])
    g, a = pl(tokens)
    assert g.shape == (2, 128) and a.shape == (2, 3, 128)
    (g.sum() + a.sum()).backward()
    assert pl.attribute_prompts.grad.abs().sum() > 0 and pl.global_prompt.grad.abs().sum() > 0
    assert set(n for n, _ in pl.named_parameters()) == {"global_prompt", "attribute_prompts"}
    # the caption matters: different captions, different attribute features
    assert not torch.allclose(a[0], a[1])


def test_long_captions_are_cut_to_fit_the_context(model):
    pl = AttributePromptLearner(model.clip, num_attributes=4, prompt_length=4)
    g, a = pl(model.tokenize(["word " * 200]))
    assert torch.isfinite(g).all() and a.shape == (1, 4, 128)
    with pytest.raises(ValueError, match="no room"):
        AttributePromptLearner(model.clip, num_attributes=20, prompt_length=4)


def test_orthogonality_loss_hand_values():
    eye = torch.eye(3).unsqueeze(0)
    assert orthogonality_loss(eye).item() == pytest.approx(0.0)
    same = torch.ones(1, 3, 4)
    assert orthogonality_loss(same).item() == pytest.approx(1.0)


def test_random_partition_deals_every_word_once():
    groups = random_partition_captions(["a man in a red shirt with jeans"], 3, seed=1)[0]
    assert len(groups) == 3
    assert sorted(" ".join(groups).split()) == sorted("a man in a red shirt with jeans".split())
    assert groups == random_partition_captions(["a man in a red shirt with jeans"], 3, seed=1)[0]


def test_attribute_queries_project_to_the_text_space(model):
    vis = model.visual
    q = AttributeQueries(192, 4, 4, vis.proj)
    patches = torch.randn(2, 32, 192, requires_grad=True)  # the model's patch_tokens
    v = q(patches)
    assert v.shape == (2, 4, 128)
    v.sum().backward()
    assert q.queries.grad.abs().sum() > 0 and patches.grad.abs().sum() > 0


def test_memory_ema_normalised_and_round_trips():
    mem = AttributePrototypeMemory(momentum=0.5)
    mem.update("a", torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]]))
    mem.update("a", torch.tensor([[[0.0, 1.0]]]))
    expected = torch.tensor([1.0, 1.0]) / math.sqrt(2)
    assert torch.allclose(mem.prototypes["a"][0], expected, atol=1e-6)
    assert mem.old_prototypes("a") is None
    mem.update("b", torch.tensor([[[0.0, 1.0]]]))
    assert mem.old_prototypes("b").shape == (1, 1, 2)
    assert mem.nbytes() == 2 * 1 * 2 * 4
    other = AttributePrototypeMemory()
    other.load_state_dict(mem.state_dict())
    assert torch.equal(other.prototypes["b"], mem.prototypes["b"]) and other.momentum == 0.5


def test_alignment_losses_hand_values_and_gradients():
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], requires_grad=True)
    t = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    assert cma_loss(v, t).item() == pytest.approx(0.0 + 1.0)
    protos = torch.tensor([[[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    # domain 1: dists 1 + 0; domain 2: 0 + 0 -> mean over domains 0.5
    assert ida_loss(v, protos).item() == pytest.approx(0.5)
    (cma_loss(v, t) + ida_loss(v, protos)).backward()
    assert v.grad.abs().sum() > 0
    assert cosine_distance(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 0.0])).item() == pytest.approx(2.0)


def test_cma_matching_loss_hand_values():
    v = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], requires_grad=True)  # B=2, K=1, E=2
    t = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])
    # each image: logits (1, 0) at temperature 1, target its own caption -> log(1 + e^-1)
    own = math.log(1 + math.exp(-1))
    assert cma_matching_loss(v, t, torch.tensor([0, 1]), temperature=1.0).item() == pytest.approx(own)
    # one identity: both captions are targets (1/2 each) -> (own + (1 + own)) / 2
    assert cma_matching_loss(v, t, torch.tensor([3, 3]), temperature=1.0).item() == pytest.approx(own + 0.5)
    # K attributes are summed: two copies of the attribute give twice the loss
    v2, t2 = v.repeat(1, 2, 1), t.repeat(1, 2, 1)
    assert cma_matching_loss(v2, t2, torch.tensor([0, 1]), temperature=1.0).item() == pytest.approx(2 * own)
    cma_matching_loss(v, t, torch.tensor([0, 1])).backward()
    assert v.grad.abs().sum() > 0


def test_affinity_kl_is_zero_for_the_same_features_and_positive_otherwise():
    x = torch.randn(6, 8)
    assert affinity_kl(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert affinity_kl(torch.randn(6, 8), x).item() > 0


class _Net(torch.nn.Module):
    """A weight, a classifier over ``classes`` identities and a BatchNorm, every value ``value``."""

    def __init__(self, classes: int, value: float):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((2, 3), value))
        self.classifier = torch.nn.Linear(3, classes, bias=False)
        torch.nn.init.constant_(self.classifier.weight, value)
        self.bn = torch.nn.BatchNorm1d(3)
        self.bn.running_mean.fill_(value)
        self.bn.num_batches_tracked.fill_(int(value))


def test_weight_mixing_keeps_60_percent_of_the_new_model():
    """The released train_stage2.py: alpha * new + (1 - alpha) * old with best_alpha = 0.6."""
    old, new = _Net(2, 2.0), _Net(3, 5.0)  # the new model learnt a third identity
    mix_weights(new, old, 0.6)
    assert torch.allclose(new.w, torch.full((2, 3), 3.8))  # 0.6 * 5 + 0.4 * 2 (the reverse would be 3.2)
    assert torch.allclose(new.bn.running_mean, torch.full((3,), 3.8))  # buffers too
    assert int(new.bn.num_batches_tracked) == 5  # integer buffers keep the new value
    assert torch.allclose(new.classifier.weight[:2], torch.full((2, 3), 3.8))  # identities both models know
    assert torch.allclose(new.classifier.weight[2], torch.full((3,), 5.0))  # the new identity's row: as trained
    kept = _Net(3, 5.0)
    mix_weights(kept, _Net(2, 2.0), 0.6, classifier=False)
    assert torch.allclose(kept.classifier.weight, torch.full((3, 3), 5.0)) and torch.allclose(kept.w, new.w)


def test_the_plugin_mixes_after_each_domain_from_the_second_on():
    from types import SimpleNamespace

    plugin = VLADRPlugin(VLADRConfig(weight_interpolation=0.6))
    model = _Net(3, 5.0)
    plugin.lreid_after_experience(strategy=SimpleNamespace(model=model), experience=None)  # first domain: no old
    assert torch.allclose(model.w, torch.full((2, 3), 5.0))
    plugin.old_model = _Net(2, 2.0)
    plugin.lreid_after_experience(strategy=SimpleNamespace(model=model), experience=None)
    assert torch.allclose(model.w, torch.full((2, 3), 3.8))
    with pytest.raises(Exception, match=r"new model's weight\) must be in \(0, 1\]"):
        VLADRConfig(weight_interpolation=0.0)


def test_region_affinity_kl_is_the_released_codes_batchmean_kl_per_part():
    # one part, B = 2, temperature 1: the new regions are orthogonal (cos [[1, 0], [0, 1]]), the old ones equal
    # (cos all 1, so each row of the old affinity is [0.5, 0.5]); per row KL = log 0.5 - 0.5 + log(1 + e),
    # summed over the 2 rows and divided by B = 2
    new = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], requires_grad=True)
    old = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]])
    kl = region_affinity_kl(new, old, temperature=1.0)
    assert float(kl.detach()) == pytest.approx(math.log(0.5) - 0.5 + math.log(1 + math.e), abs=1e-6)
    kl.backward()
    assert new.grad is not None and float(new.grad.abs().sum()) > 0
    # parts add up: two identical parts give twice the value; equal old and new give 0
    both = region_affinity_kl(new.detach().repeat(1, 2, 1), old.repeat(1, 2, 1), temperature=1.0)
    assert float(both) == pytest.approx(2 * float(kl.detach()), abs=1e-6)
    assert float(region_affinity_kl(old, old, temperature=0.005)) == pytest.approx(0.0, abs=1e-6)


def test_cma_instance_loss_matches_each_image_to_its_own_caption_part():
    # B = 2, one part: v = t = the two unit axes, so the cosine logits are the identity matrix;
    # each direction: CE([1, 0], target 0) = log(1 + e) - 1; symmetric mean: the same
    v = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], requires_grad=True)
    loss = cma_instance_loss(v, v.detach().clone())
    assert float(loss.detach()) == pytest.approx(math.log(1 + math.e) - 1, abs=1e-6)
    loss.backward()
    assert v.grad is not None
    # the mean over parts: a second part whose captions are swapped costs log(1 + e) (the wrong one is closer)
    two = torch.cat([v.detach(), v.detach()], dim=1)
    text = torch.cat([v.detach(), v.detach().flip(0)], dim=1)
    expected = 0.5 * ((math.log(1 + math.e) - 1) + math.log(1 + math.e))
    assert float(cma_instance_loss(two, text)) == pytest.approx(expected, abs=1e-6)


def test_the_readme_holds_the_paper_versus_released_code_table():
    from pathlib import Path

    from lifelong_reid.plugins.vladr.components import COMPONENTS, markdown_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert markdown_table() in readme  # regenerate: python -m lifelong_reid.plugins.vladr.components
    assert len({c.name for c in COMPONENTS}) == len(COMPONENTS)
    done = {c.name for c in COMPONENTS if c.status == "done"}
    assert {"weight mixing after each domain", "cross-modal attribute alignment", "data selection"} <= done


def test_the_released_region_module_is_multi_head_attention_then_two_projections():
    torch.manual_seed(0)
    m = RegionCrossAttention(16, num_queries=4, heads=8)
    tokens = torch.randn(3, 10, 16, requires_grad=True)
    v = m(tokens)
    assert v.shape == (3, 4, 16) and torch.allclose(v.norm(dim=-1), torch.ones(3, 4), atol=1e-5)
    # reference: per head h, softmax(q_h k_h^T / sqrt(2)) v_h, heads concatenated, out_proj, region_proj, L2
    q, k, val = m.q_proj(m.queries), m.k_proj(tokens), m.v_proj(tokens)
    heads = []
    for h in range(8):
        sl = slice(2 * h, 2 * h + 2)
        w = torch.softmax(q[:, sl] @ k[..., sl].transpose(1, 2) / math.sqrt(2), dim=-1)  # (3, 4, 10)
        heads.append(w @ val[..., sl])
    ref = torch.nn.functional.normalize(m.region_proj(m.out_proj(torch.cat(heads, dim=-1))), dim=-1)
    assert torch.allclose(v, ref, atol=1e-5)
    v.sum().backward()
    assert tokens.grad is not None and m.queries.grad is not None
    with pytest.raises(ValueError, match="8 heads do not divide the embedding size 12"):
        RegionCrossAttention(12, heads=8)


def test_the_released_transforms_normalise_with_imagenet_erase_twice_and_add_a_strong_view():
    import numpy as np
    from PIL import Image
    from torchvision.transforms import v2 as T

    from lifelong_reid.plugins.vladr.augment import IMAGENET_MEAN, IMAGENET_STD, official_transforms, strong_view

    train, evaluation = official_transforms((64, 32))
    grey = Image.fromarray(np.full((128, 64, 3), 128, dtype=np.uint8))
    expected = torch.tensor([(128 / 255 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    assert torch.allclose(evaluation(grey)[:, 0, 0], expected, atol=1e-6)
    erasings = [(e.p, list(e.value), e.scale) for e in train.transform.transforms if isinstance(e, T.RandomErasing)]
    assert erasings == [(0.5, list(IMAGENET_MEAN), (0.02, 0.4)), (0.3, list(IMAGENET_MEAN), (0.02, 0.4))]
    strong = strong_view((64, 32))
    kinds = [type(t).__name__ for t in strong.transforms]
    assert kinds == ["Resize", "RandomHorizontalFlip", "RandomCrop", "RandAugment", "ToImage", "ToFloatImage",
                     "Normalize"]
    crop, augment = strong.transforms[2], strong.transforms[3]
    assert (crop.padding, crop.padding_mode, augment.num_ops, augment.magnitude) == ([4, 4, 4, 4], "reflect", 2, 10)
    torch.manual_seed(0)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 64, 3), dtype=np.uint8))
    views = torch.stack([strong(image) for _ in range(4)])
    assert views.shape == (4, 3, 64, 32) and not torch.equal(views[0], views[1])  # drawn anew per call
