"""Synthetic versions of the streams: everything runs offline, in minutes, on CPU."""
from __future__ import annotations

from typing import Optional

from lifelong_reid.streams.benchmark import ReIDBenchmark
from lifelong_reid.streams.lifelong import lifelong_stream
from lifelong_reid.synthetic import SyntheticDomain


def synthetic_lifelong_stream(num_domains: int = 3, num_unseen: int = 1, *, seed: int = 0,
                              num_train_ids: int = 40, num_test_ids: int = 30, num_cameras: int = 3,
                              images_per_camera: int = 3, transforms: Optional[tuple] = None,
                              name: Optional[str] = None) -> ReIDBenchmark:
    """A lifelong stream of ``num_domains`` synthetic training domains (``synth1`` ...) and ``num_unseen``
    unseen ones (``synth-unseen1`` ...). Domain ``i`` uses seed ``seed * 1000 + i``; unseen domains have no
    training identities.
    """
    train = [SyntheticDomain(f"synth{i + 1}", seed * 1000 + i, num_train_ids, num_test_ids, num_cameras,
                             images_per_camera).build() for i in range(num_domains)]
    unseen = [SyntheticDomain(f"synth-unseen{i + 1}", seed * 1000 + 500 + i, 0, num_test_ids, num_cameras,
                              images_per_camera).build() for i in range(num_unseen)]
    return lifelong_stream(train, unseen, transforms=transforms,
                           name=name or f"synthetic-lifelong-{num_domains}+{num_unseen}")
