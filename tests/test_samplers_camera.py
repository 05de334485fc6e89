"""The camera-diverse P x K sampler (``sampler="pk_camera"``, VLADR's released RandomMultipleGallerySampler)."""
from __future__ import annotations

import pytest

from lifelong_reid.data.samplers import CameraDiversePKSampler
from lifelong_reid.errors import ConfigError


def _data():
    # identity 0: 6 images, cameras 0,0,0,0,1,2; identity 1: one camera (3 images); identity 2: one image;
    # identity 3: 4 images over 4 cameras
    labels = [0] * 6 + [1] * 3 + [2] + [3] * 4
    cameras = [0, 0, 0, 0, 1, 2] + [5, 5, 5] + [7] + [0, 1, 2, 3]
    return labels, cameras


def test_companions_come_from_other_cameras_than_the_anchor():
    labels, cameras = _data()
    sampler = CameraDiversePKSampler(labels, cameras, p=4, k=4, seed=0)
    assert len(sampler) == 1  # max(1, 14 // 16) batches an epoch
    seen_anchor_cams = set()
    for epoch in range(20):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len(batch) == 16
            chunks = [batch[i:i + 4] for i in range(0, 16, 4)]
            assert sorted(labels[c[0]] for c in chunks) == [0, 1, 2, 3]  # P distinct identities
            for c in chunks:
                assert len({labels[i] for i in c}) == 1
                lab, anchor_cam = labels[c[0]], cameras[c[0]]
                if lab in (0, 3):  # seen by several cameras: the K - 1 others avoid the anchor's camera
                    assert all(cameras[i] != anchor_cam for i in c[1:])
                    seen_anchor_cams.add((lab, anchor_cam))
                if lab == 1:  # one camera: its other images
                    assert all(i != c[0] for i in c[1:])
                if lab == 2:  # a single image repeats
                    assert c == [9, 9, 9, 9]
    assert (0, 0) in seen_anchor_cams and (0, 1) in seen_anchor_cams  # anchors are drawn among all images


def test_the_sampler_is_deterministic_and_shares_batches_between_ranks():
    labels, cameras = _data()
    a = list(CameraDiversePKSampler(labels, cameras, p=4, k=2, seed=3))
    assert a == list(CameraDiversePKSampler(labels, cameras, p=4, k=2, seed=3))
    r0 = list(CameraDiversePKSampler(labels, cameras, p=4, k=2, seed=3, rank=0, world_size=2))
    r1 = list(CameraDiversePKSampler(labels, cameras, p=4, k=2, seed=3, rank=1, world_size=2))
    assert [x + y for x, y in zip(r0, r1)] == a
    assert len(a) == 14 // 8


def test_one_camera_per_sample_is_required():
    with pytest.raises(ConfigError, match="one camera per sample"):
        CameraDiversePKSampler([0, 0, 1, 1], [0, 1], p=2, k=2)
