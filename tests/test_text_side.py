"""The shared text side: encoding spliced embeddings, prompt learners, CLIP-ReID's stage 1, contrastive
losses (checked against the reference formulas written out here)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lifelong_reid.losses import image_to_text_loss, info_nce, supcon_loss, symmetric_supcon_loss
from lifelong_reid.models import build_model
from lifelong_reid.testing import tiny_config
from lifelong_reid.text import CaptionPromptLearner, IdentityPromptLearner, Stage1Trainer, encode_embeddings
from lifelong_reid.text.encoding import eot_positions


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(tiny_config())


def reference_supcon(features_v, features_t, label_v, label_t, temperature=1.0):
    """CLIP-ReID's ``loss/supcontrast.py`` SupConLoss.forward, written out."""
    mask = torch.eq(label_v.unsqueeze(1), label_t.unsqueeze(0)).float()
    logits = torch.div(torch.matmul(features_v, features_t.T), temperature)
    logits_max, _ = torch.max(logits, dim=1, keepdim=True)
    logits = logits - logits_max.detach()
    exp_logits = torch.exp(logits)
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    return -mean_log_prob_pos.mean()


def test_supcon_equals_clip_reids_implementation():
    torch.manual_seed(1)
    v, t = torch.randn(8, 16), torch.randn(8, 16)
    lv = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    lt = lv[torch.randperm(8)]
    for temp in (1.0, 0.07):
        assert supcon_loss(v, t, lv, lt, temp).item() == pytest.approx(reference_supcon(v, t, lv, lt, temp).item(),
                                                                         rel=1e-5)
    sym = symmetric_supcon_loss(v, t, lv, 0.5)
    assert sym.item() == pytest.approx((reference_supcon(v, t, lv, lv, 0.5) + reference_supcon(t, v, lv, lv, 0.5)).item(),
                                       rel=1e-5)


def test_image_to_text_and_info_nce_by_hand():
    img = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # raw dot products [[1, 0], [0, 2]]; CE of row 0 (target 0) = log(1 + e^-1), row 1 (target 1) = log(1 + e^-2)
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-2))) / 2
    assert image_to_text_loss(img, text, torch.tensor([0, 1])).item() == pytest.approx(expected, rel=1e-6)
    # cosine at temperature 0.5: logits [[2, 0], [0, 2]]
    expected = math.log(1 + math.exp(-2))
    assert image_to_text_loss(img, text, torch.tensor([0, 1]), normalize=True, temperature=0.5).item() == \
        pytest.approx(expected, rel=1e-6)
    soft = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    got = info_nce(img, text, soft, temperature=0.5)
    expected = (0.5 * math.log(1 + math.exp(-2)) + 0.5 * math.log(1 + math.exp(2)) + math.log(1 + math.exp(-2))) / 2
    assert got.item() == pytest.approx(expected, rel=1e-6)
    hard = info_nce(img, text, torch.tensor([0, 1]), temperature=0.5, weights=torch.tensor([1.0, 0.0]))
    assert hard.item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)


def test_encoding_plain_token_embeddings_at_eot_is_clips_encode_text(model):
    ids = model.tokenize(["a man in a red coat", "a woman"])
    clip = model.clip
    got = encode_embeddings(clip, clip.token_embedding(ids), eot_positions(ids))
    assert torch.allclose(got, model.encode_text(ids), atol=1e-5)


def test_identity_prompts_fill_the_template_and_train(model):
    learner = IdentityPromptLearner(model.clip, model.tokenizer, num_classes=4)
    assert learner.num_tokens == [4] and learner.spans == [(5, 9)]  # SOS a photo of a | X X X X
    feats = learner(torch.tensor([0, 1, 1]))
    assert feats.shape == (3, model.visual.output_dim) and torch.allclose(feats[1], feats[2])
    feats.sum().backward()
    assert learner.ctx[0].grad[:2].abs().sum() > 0 and learner.ctx[0].grad[2:].abs().sum() == 0
    multi = IdentityPromptLearner(model.clip, model.tokenizer, 3, templates=[
        "A photo of a X X X X person", "A photo of a X X X X head of a person"], init_std=0.002)
    assert multi(torch.tensor([0, 2])).shape == (2, 2, model.visual.output_dim)
    multi.reset(7)
    assert multi.num_classes == 7
    with pytest.raises(ValueError, match="one contiguous run"):
        IdentityPromptLearner(model.clip, model.tokenizer, 2, templates="A photo of a person.")


def test_caption_prompts_read_at_their_offsets_and_eot(model):
    learner = CaptionPromptLearner(model.clip, num_tokens=4, reads=[1, 3])
    out = learner(model.tokenize(["a man in a red coat"]))
    assert out.shape == (1, 3, model.visual.output_dim)
    x, pos = learner.sequences(model.tokenize(["a man"]))
    assert pos.tolist() == [[3 + 1, 3 + 3, 3 + 4]]  # SOS a man | p0 p1 p2 p3 | EOT
    with pytest.raises(ValueError, match="no room for a caption"):
        CaptionPromptLearner(model.clip, num_tokens=80)


def test_stage1_learns_prompts_that_match_their_identities(model):
    torch.manual_seed(0)
    learner = IdentityPromptLearner(model.clip, model.tokenizer, num_classes=4)
    labels = torch.arange(4).repeat_interleave(5)
    centres = F.normalize(torch.randn(4, model.visual.output_dim), dim=1)
    images = F.normalize(centres[labels] + 0.1 * torch.randn(20, model.visual.output_dim), dim=1)
    trainer = Stage1Trainer(learner.parameters(), lr=1e-2, epochs=30, batch_size=8, temperature=0.1, normalize=True,
                            warmup_epochs=2)
    history = trainer.fit(images, labels, lambda idx: learner(labels[idx]), generator=torch.Generator().manual_seed(0))
    assert history[-1] < 0.5 * history[0]
    with torch.no_grad():
        text = F.normalize(learner(torch.arange(4)), dim=1)
    assert ((images @ text.t()).argmax(1) == labels).float().mean() == 1.0  # each image finds its identity
