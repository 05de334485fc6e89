"""Relabelling, transforms, P x K sampling, unreadable images."""
from __future__ import annotations

from collections import Counter

import pytest
import torch
from PIL import Image

from lifelong_reid.data import PKSampler, ReIDDataset, Sample, build_transforms, relabel
from lifelong_reid.data.image_check import require_images
from lifelong_reid.errors import ConfigError, ImageReadError


def test_relabel_is_contiguous_and_keeps_original_ids():
    samples = [Sample("a", 17, 0, "d1"), Sample("b", 3, 1, "d1"), Sample("c", 17, 2, "d1"), Sample("d", 3, 0, "d2")]
    targets, mapping = relabel(samples)
    assert targets == [1, 0, 1, 2]
    assert mapping == {("d1", 3): 0, ("d1", 17): 1, ("d2", 3): 2}
    ds = ReIDDataset(samples, image_loader=lambda s: Image.new("RGB", (4, 8)), targets=targets)
    image, target, pid, camid, index, meta = ds[2]
    assert (target, pid, camid, index) == (1, 17, 2, 2)
    assert meta == {"domain": "d1", "modality": "rgb"}
    assert ds.num_classes == 3


def test_transforms_give_normalised_tensors_of_the_requested_size():
    train, evaluation = build_transforms((64, 32), random_erasing=0.5)
    img = Image.new("RGB", (50, 120), color=(255, 0, 0))
    for tf in (train, evaluation):
        x = tf(img)
        assert x.shape == (3, 64, 32) and x.dtype == torch.float32
    x = evaluation(img)
    assert x[0].mean().item() == pytest.approx((1 - 0.48145466) / 0.26862954, rel=1e-4)
    with pytest.raises(ConfigError, match="height, width"):
        build_transforms((64,))


def test_pk_sampler_batches_hold_p_identities_of_k_images():
    labels = [i // 5 for i in range(50)] + [10, 10]  # ten ids with 5 images, one with 2
    sampler = PKSampler(labels, p=4, k=3, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 2  # 11 chunks of K=3, P=4 per batch
    for b in batches:
        counts = Counter(labels[i] for i in b)
        assert len(b) == 12 and len(counts) == 4 and set(counts.values()) == {3}
    assert batches == list(PKSampler(labels, p=4, k=3, seed=1))
    sampler.set_epoch(1)
    assert list(sampler) != batches


def test_pk_sampler_needs_p_identities():
    with pytest.raises(ConfigError, match="at least P=4 identities"):
        PKSampler([0, 0, 1, 1], p=4, k=2)


def test_unreadable_image_is_named(tmp_path):
    bad = tmp_path / "0001_c1s1_000001_00.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="0001_c1s1_000001_00.jpg: cannot read image"):
        require_images([str(bad)], cache=None)
    ds = ReIDDataset([Sample(str(bad), 1, 0, "d")])
    with pytest.raises(ImageReadError, match="replace or remove the file"):
        ds[0]
