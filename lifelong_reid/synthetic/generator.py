"""Synthetic ReID domains: identities, cameras and splits, rendered on demand."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from lifelong_reid.data.sample import DomainData, Sample
from lifelong_reid.synthetic.attributes import caption, caption_parts, draw_identity, public_attributes
from lifelong_reid.synthetic.domains import DomainStyle, make_domain_style
from lifelong_reid.synthetic.modalities import SYNTHETIC_MODALITIES
from lifelong_reid.synthetic.render import draw_view, part_boxes, render

SCHEME = "synthetic://"


class SyntheticDomain:
    """One synthetic domain: ``num_train_ids`` training and ``num_test_ids`` test identities.

    Every identity is seen by every camera, ``images_per_camera`` times. Test identities give one query
    per camera (the first image) and the rest to the gallery, so every query has cross-camera matches.
    Identities are numbered from 1 (train first, then test), cameras from 0. Images are rendered on
    demand from ``(seed, pid, camid, k)`` and nothing is written to disk unless :meth:`save` is called.

    Args:
        name: domain name.
        seed: all randomness (style, identities, views) derives from it.
        num_train_ids, num_test_ids: identity counts.
        num_cameras: cameras (>= 2).
        images_per_camera: images per identity and camera (>= 2 for test identities to have a gallery
            match on the query's own camera excluded and others kept).
        camera_modalities: modality of each camera (``"rgb"``, ``"ir"``, ``"nir"``, ``"tir"``), default all
            visible. With both visible and infrared cameras the domain is visible-infrared: queries are the
            test identities' infrared images, the gallery their visible images (protocol ``regdb``: nothing
            removed, since query and gallery cameras differ).
        tuple_modalities: e.g. ``("rgb", "nir", "tir")``: every sample is a multi-modal tuple of the same
            instant in each modality (``Sample.modality_paths``), as RGBNT201 / RGBNT100 / MSVR310.
    """

    def __init__(self, name: str, seed: int, num_train_ids: int = 40, num_test_ids: int = 30,
                 num_cameras: int = 3, images_per_camera: int = 3, camera_modalities: tuple | None = None,
                 tuple_modalities: tuple | None = None):
        if num_train_ids < 0 or num_test_ids < 0 or images_per_camera < 1:
            raise ValueError("identity and image counts must be non-negative (images_per_camera >= 1)")
        modalities = tuple(camera_modalities) if camera_modalities else ("rgb",) * num_cameras
        if len(modalities) != num_cameras or not set(modalities) <= set(SYNTHETIC_MODALITIES):
            raise ValueError(f"camera_modalities needs one of {SYNTHETIC_MODALITIES} per camera ({num_cameras}), "
                             f"got {camera_modalities}")
        self.camera_modalities = modalities
        if tuple_modalities and not set(tuple_modalities) <= set(SYNTHETIC_MODALITIES):
            raise ValueError(f"tuple_modalities must be among {SYNTHETIC_MODALITIES}, got {tuple_modalities}")
        self.tuple_modalities = tuple(tuple_modalities) if tuple_modalities else None
        self.name, self.seed = name, seed
        self.num_train_ids, self.num_test_ids = num_train_ids, num_test_ids
        self.num_cameras, self.images_per_camera = num_cameras, images_per_camera
        self.style: DomainStyle = make_domain_style(name, seed, num_cameras)
        self._make_caches()

    def _make_caches(self) -> None:
        self._identity = lru_cache(maxsize=None)(self._draw_identity)
        self.load_image = lru_cache(maxsize=4096)(self._render_key)

    def __getstate__(self):  # picklable for DataLoader workers: the caches are rebuilt there
        return {k: v for k, v in self.__dict__.items() if k not in ("_identity", "load_image")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._make_caches()

    def _draw_identity(self, pid: int) -> dict:
        return draw_identity(np.random.default_rng([self.seed, 1, pid]))

    def identity(self, pid: int) -> dict:
        """The attributes (and fine detail) of identity ``pid``."""
        return self._identity(pid)

    def _view_rng(self, pid: int, camid: int, k: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 2, pid, camid, k])

    def _sample(self, pid: int, camid: int, k: int) -> Sample:
        ident = self.identity(pid)
        view = draw_view(self._view_rng(pid, camid, k), self.style, camid, ident)
        key = f"{SCHEME}{self.name}/{pid}/{camid}/{k}"
        tuples = {m: f"{key}#{m}" for m in self.tuple_modalities} if self.tuple_modalities else None
        return Sample(path=key, pid=pid, camid=camid, domain=self.name,
                      modality="multi" if tuples else self.camera_modalities[camid], caption=caption(ident),
                      caption_parts=caption_parts(ident), attributes=public_attributes(ident), part_boxes=part_boxes(ident, view), modality_paths=tuples)

    def warmth(self, pid: int) -> float:
        """Identity ``pid``'s thermal brightness offset in ``[-1, 1]`` (used by the ``tir`` rendering)."""
        return float(np.random.default_rng([self.seed, 3, pid]).uniform(-1, 1))

    def _render_key(self, path: str) -> Image.Image:
        key, _, modality = path.partition("#")
        pid, camid, k = (int(v) for v in key[len(SCHEME):].split("/")[-3:])
        ident = self.identity(pid)
        rng = self._view_rng(pid, camid, k)
        view = draw_view(rng, self.style, camid, ident)
        modality = modality or self.camera_modalities[camid]
        return render(ident, view, self.style, rng, modality, self.warmth(pid) if modality == "tir" else 0.0)

    @property
    def is_visible_infrared(self) -> bool:
        """Whether the domain has both visible and non-visible cameras."""
        return "rgb" in self.camera_modalities and any(m != "rgb" for m in self.camera_modalities)

    def image_loader(self, sample: Sample):
        """Render ``sample`` (a ``synthetic://`` path of this domain) as a 64x128 RGB image, or a list of
        them (one per modality) for a multi-modal tuple."""
        if sample.modality_paths:
            return [self.load_image(p).copy() for p in sample.image_paths()]
        return self.load_image(sample.path).copy()

    def build(self) -> DomainData:
        """The domain's train, query and gallery samples."""
        data = DomainData(name=self.name, image_loader=self.image_loader)
        cams, n = range(self.num_cameras), self.images_per_camera
        for pid in range(1, self.num_train_ids + 1):
            data.train += [self._sample(pid, c, k) for c in cams for k in range(n)]
        test_ids = range(self.num_train_ids + 1, self.num_train_ids + self.num_test_ids + 1)
        if self.is_visible_infrared:  # infrared queries against the visible gallery
            data.protocol = "regdb"
            for pid in test_ids:
                for c in cams:
                    split = data.gallery if self.camera_modalities[c] == "rgb" else data.query
                    split += [self._sample(pid, c, k) for k in range(n)]
            return data
        for pid in test_ids:
            for c in cams:
                data.query.append(self._sample(pid, c, 0))
                data.gallery += [self._sample(pid, c, k) for k in range(1, n)]
        return data

    def save(self, root: str | os.PathLike) -> Path:
        """Write the domain in the Market-1501 layout under ``root`` (JPEG), return ``root``."""
        root = Path(root)
        data = self.build()
        for split, folder in (("train", "bounding_box_train"), ("query", "query"),
                              ("gallery", "bounding_box_test")):
            (root / folder).mkdir(parents=True, exist_ok=True)
            for s in getattr(data, split):
                k = int(s.path.rsplit("/", 1)[1])
                self.image_loader(s).save(root / folder / f"{s.pid:04d}_c{s.camid + 1}s1_{k:06d}_00.jpg",
                                          quality=95)
        return root


def synthetic_domain(name: str, seed: int, **kwargs) -> DomainData:
    """Shortcut: ``SyntheticDomain(name, seed, **kwargs).build()``."""
    return SyntheticDomain(name, seed, **kwargs).build()
