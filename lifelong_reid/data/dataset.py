"""A torch dataset over :class:`Sample` lists, with contiguous training labels."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch.utils.data import Dataset

from lifelong_reid.data.image_io import open_rgb
from lifelong_reid.data.sample import Sample


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
    """Samples as ``[image, target, pid, camid, index]`` items.

    ``target`` is the contiguous training label (see :func:`relabel`) or ``-1`` for evaluation sets;
    ``pid`` and ``camid`` are the dataset's originals, kept for evaluation.

    Args:
        samples: the crops.
        image_loader: ``Sample -> PIL.Image``; default opens ``sample.path`` from disk.
        targets: per-sample training labels; default ``-1`` everywhere.
        transform: applied to the image when the dataset is used directly (Avalanche's transform groups
            are used instead when wrapped by :func:`lifelong_reid.streams.to_avalanche`).
    """

    def __init__(self, samples: Sequence[Sample], image_loader: Optional[Callable] = None,
                 targets: Optional[Sequence[int]] = None, transform: Optional[Callable] = None):
        self.samples = list(samples)
        self.image_loader = image_loader
        self.targets = list(targets) if targets is not None else [-1] * len(self.samples)
        if len(self.targets) != len(self.samples):
            raise ValueError("targets must have one label per sample")
        self.transform = transform
        self.pids = torch.tensor([s.pid for s in self.samples], dtype=torch.long)
        self.camids = torch.tensor([s.camid for s in self.samples], dtype=torch.long)

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

    def __getitem__(self, index: int):
        image = self.load_image(index)
        if self.transform is not None:
            image = self.transform(image)
        s = self.samples[index]
        return [image, self.targets[index], s.pid, s.camid, index]
