"""A torch dataset over :class:`Sample` lists, with contiguous training labels and side information."""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors

from lifelong_reid.data.image_io import open_rgb
from lifelong_reid.data.sample import PART_NAMES, Sample, tuple_modalities
from lifelong_reid.data.side_info import clip_box


def relabel(samples: Sequence[Sample], offsets: Optional[dict] = None) -> tuple[list[int], dict]:
    """Contiguous labels ``0..C-1`` for the identities of ``samples``.

    Identities are keyed by ``(domain, pid)`` so that two datasets merged in one experience never share a
    label; labels follow the sorted order of keys, which makes them deterministic.

    Returns:
        ``(targets, mapping)``: one label per sample and the ``(domain, pid) -> label`` mapping.
    """
    keys = sorted({(s.domain, s.pid) for s in samples})
    mapping = {k: i for i, k in enumerate(keys)}
    return [mapping[(s.domain, s.pid)] for s in samples], mapping


class ReIDDataset(Dataset):
    """Samples as ``[x, target, pid, camid, index, meta]`` items (collated into a
    :class:`~lifelong_reid.data.ReIDBatch` by :func:`~lifelong_reid.data.collate_reid`).

    ``x`` is the image (or the list of a tuple's images) or, when the samples carry geometric side
    information (part boxes, part masks) and :attr:`geometric` asks for it, ``{"image": ..., "part_boxes":
    BoundingBoxes (P, 4), "part_masks": Mask (H, W)}`` so that the transform moves them with the image. ``target`` is the contiguous training
    label (see :func:`relabel`) or ``-1`` for evaluation sets; ``pid`` and ``camid`` are the dataset's
    originals, kept for evaluation. ``meta`` holds ``domain``, ``modality`` and, where samples have them,
    ``captions``, ``attributes`` and ``attribute_ids`` (indices into :attr:`attribute_vocab`).

    Args:
        samples: the crops.
        image_loader: ``Sample -> PIL.Image``; default opens ``sample.path`` from disk.
        targets: per-sample training labels; default ``-1`` everywhere.
        transform: applied to ``x`` when the dataset is used directly (Avalanche's transform groups
            are used instead when wrapped by :func:`lifelong_reid.streams.to_avalanche`).
        side_info: carry the samples' side information (default); ``False`` gives ``x`` = the image only.

    Attributes:
        geometric: the geometric side information items carry (``{"part_boxes", "part_masks"}`` or a subset);
            ``None`` (the default) carries whatever the samples have. Moving boxes and masks with the image
            costs transform time (about 0.5 ms per image on a CPU core), so the strategy sets this, per
            training experience, to what the active plugins declare they read (their ``side_info``).
    """

    def __init__(self, samples: Sequence[Sample], image_loader: Optional[Callable] = None,
                 targets: Optional[Sequence[int]] = None, transform: Optional[Callable] = None,
                 side_info: bool = True):
        self.samples = list(samples)
        self.image_loader = image_loader
        self.targets = list(targets) if targets is not None else [-1] * len(self.samples)
        if len(self.targets) != len(self.samples):
            raise ValueError("targets must have one label per sample")
        self.transform = transform
        self.pids = torch.tensor([s.pid for s in self.samples], dtype=torch.long)
        self.camids = torch.tensor([s.camid for s in self.samples], dtype=torch.long)
        self.geometric: Optional[set] = None
        self.has_boxes = side_info and any(s.part_boxes for s in self.samples)
        self.has_masks = side_info and any(s.part_masks for s in self.samples)
        self.has_captions = side_info and any(s.caption for s in self.samples)
        has_attributes = side_info and any(s.attributes for s in self.samples)
        #: ``{attribute name: [values]}``: what ``attribute_ids`` index (names and values sorted).
        self.attribute_vocab: dict[str, list] = {}
        if has_attributes:
            values: dict[str, set] = {}
            for s in self.samples:
                for k, v in (s.attributes or {}).items():
                    values.setdefault(k, set()).add(str(v))
            self.attribute_vocab = {k: sorted(values[k]) for k in sorted(values)}

    @property
    def num_classes(self) -> int:
        """Number of distinct training labels (0 for evaluation sets)."""
        valid = [t for t in self.targets if t >= 0]
        return (max(valid) + 1) if valid else 0

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, index: int):
        """The PIL image of sample ``index`` (no transform); a list of PIL images, one per modality in
        :data:`~lifelong_reid.data.sample.TUPLE_ORDER`, for multi-modal samples."""
        sample = self.samples[index]
        if self.image_loader is not None:
            return self.image_loader(sample)
        if sample.modality_paths:
            return [open_rgb(p) for p in sample.image_paths()]
        return open_rgb(sample.path)

    def _boxes(self, sample: Sample, image) -> tv_tensors.BoundingBoxes:
        first = image[0] if isinstance(image, (list, tuple)) else image
        w, h = first.size
        boxes = sample.part_boxes or {}
        rows = [list((clip_box(boxes[p], w, h) if p in boxes else None) or (math.nan,) * 4) for p in PART_NAMES]
        return tv_tensors.BoundingBoxes(torch.tensor(rows, dtype=torch.float32), format="XYXY", canvas_size=(h, w))

    def _mask(self, sample: Sample, image) -> tv_tensors.Mask:
        first = image[0] if isinstance(image, (list, tuple)) else image
        if not sample.part_masks:
            return tv_tensors.Mask(torch.zeros(first.size[1], first.size[0], dtype=torch.uint8))
        with Image.open(sample.part_masks) as m:
            label = np.asarray(m.convert("L").resize(first.size, Image.NEAREST))
        return tv_tensors.Mask(torch.from_numpy(label.copy()))

    def meta(self, index: int) -> dict:
        """The non-geometric side of item ``index``: ``domain``, ``modality``, ``tuple_modalities`` (tuples),
        ``captions``, ``attributes``, ``attribute_ids``."""
        s = self.samples[index]
        out = {"domain": s.domain, "modality": s.modality}
        if s.modality_paths:
            out["tuple_modalities"] = tuple_modalities(s)
        if self.has_captions:
            out["captions"] = s.caption
        if self.attribute_vocab:
            attrs = s.attributes or {}
            out["attributes"] = dict(attrs) if attrs else None
            out["attribute_ids"] = torch.tensor(
                [vals.index(str(attrs[k])) if k in attrs else -1 for k, vals in self.attribute_vocab.items()])
        return out

    def __getitem__(self, index: int):
        image = self.load_image(index)
        s = self.samples[index]
        x = image
        boxes = self.has_boxes and (self.geometric is None or "part_boxes" in self.geometric)
        masks = self.has_masks and (self.geometric is None or "part_masks" in self.geometric)
        if boxes or masks:
            x = {"image": image}
            if boxes:
                x["part_boxes"] = self._boxes(s, image)
            if masks:
                x["part_masks"] = self._mask(s, image)
        if self.transform is not None:
            x = self.transform(x)
        return [x, self.targets[index], s.pid, s.camid, index, self.meta(index)]
