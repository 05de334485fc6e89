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


def synthetic_vi_stream(*, seed: int = 0, num_train_ids: int = 40, num_test_ids: int = 30, num_cameras: int = 4,
                        images_per_camera: int = 3, unsupervised: bool = False, transforms: Optional[tuple] = None,
                        name: Optional[str] = None) -> ReIDBenchmark:
    """A visible-infrared domain (half the cameras visible, half near-infrared) as one experience:
    infrared queries against the visible gallery. ``unsupervised`` hides the training identities."""
    from lifelong_reid.streams.benchmark import build_benchmark

    mods = tuple("rgb" if c % 2 == 0 else "ir" for c in range(num_cameras))
    d = SyntheticDomain("synth-vi", seed * 1000 + 700, num_train_ids, num_test_ids, num_cameras, images_per_camera,
                        camera_modalities=mods).build()
    default = "synthetic-vi-unsupervised" if unsupervised else "synthetic-vi"
    return build_benchmark(name or default, [d], [d], unseen=[], transforms=transforms, hide_identities=unsupervised)


def synthetic_dg_stream(*, seed: int = 0, num_train_ids: int = 40, num_test_ids: int = 30, num_cameras: int = 3,
                        images_per_camera: int = 3, transforms: Optional[tuple] = None,
                        name: Optional[str] = None) -> ReIDBenchmark:
    """Leave-one-out domain generalization on four synthetic domains: train on three merged (one
    experience), test on the fourth (unseen)."""
    from lifelong_reid.streams.benchmark import build_benchmark
    from lifelong_reid.streams.generalization import merge_domains

    domains = [SyntheticDomain(f"synth-dg{i + 1}", seed * 1000 + 800 + i, num_train_ids, num_test_ids, num_cameras,
                               images_per_camera).build() for i in range(4)]
    merged = merge_domains(domains[:3], "synth-dg1+synth-dg2+synth-dg3")
    return build_benchmark(name or "synthetic-dg", [merged], [domains[3]], unseen=[domains[3].name],
                           transforms=transforms)



def synthetic_multimodal_stream(*, seed: int = 0, num_train_ids: int = 40, num_test_ids: int = 30,
                                num_cameras: int = 3, images_per_camera: int = 3, transforms: Optional[tuple] = None,
                                name: Optional[str] = None, modalities=None) -> ReIDBenchmark:
    """Multi-modal object ReID offline: one domain whose samples are RGB / NIR / TIR tuples, one experience;
    ``modalities`` keeps a subset of them (:func:`~lifelong_reid.data.modality_subset.select_modalities`)."""
    from lifelong_reid.data.modality_subset import select_modalities
    from lifelong_reid.streams.benchmark import build_benchmark

    d = SyntheticDomain("synth-rgbnt", seed * 1000 + 900, num_train_ids, num_test_ids, num_cameras, images_per_camera,
                        tuple_modalities=("rgb", "nir", "tir")).build()
    if modalities is not None:
        d = select_modalities(d, modalities)
    return build_benchmark(name or "synthetic-multimodal", [d], [d], unseen=[], transforms=transforms)
