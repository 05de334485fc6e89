"""The data model: one :class:`Sample` per crop, one :class:`DomainData` per dataset."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

#: Modalities a sample can carry (``"multi"``: a tuple of modalities, see ``Sample.modality_paths``).
MODALITIES = ("rgb", "ir", "nir", "tir", "multi")

#: Order of the modalities in a multi-modal tuple tensor.
TUPLE_ORDER = ("rgb", "nir", "tir")

#: Part names of ``Sample.part_boxes``.
PART_NAMES = ("head", "upper", "legs")

#: Parts of ``Sample.caption_parts`` in the released VLADR captions (BLIP-2 answers filled into four part
#: templates, ``_BLIP_TEXT_DESC/*_description.txt``).
CAPTION_PARTS = ("head", "upper", "lower", "foot")

JUNK_PID = -1
"""Market-1501 convention: ``-1`` marks junk gallery images, ignored by evaluation."""
DISTRACTOR_PID = 0
"""Market-1501 convention: ``0000`` marks distractors, kept in the gallery as true negatives."""


@dataclass(frozen=True)
class Sample:
    """One person (or object) crop.

    Attributes:
        path: image file, or a ``synthetic://`` key rendered by the synthetic generator.
        pid: original identity as the dataset names it (``-1`` junk, ``0`` distractor in Market-1501).
        camid: original camera index, 0-based (``c1`` -> 0), except where the dataset's protocol is written in
            its own numbers (SYSU-MM01 keeps cameras 1..6; RegDB uses 1 visible, 2 thermal).
        domain: dataset name, e.g. ``"market1501"``.
        modality: one of :data:`MODALITIES`.
        caption: optional text description (consumed by vision-language plugins).
        caption_parts: optional per-part descriptions, ``{part: sentence}`` in a fixed order (e.g.
            :data:`CAPTION_PARTS`); ``caption`` is then their sentences joined by a space.
        attributes: optional named discrete attributes, e.g. ``{"upper_color": "red"}``.
        part_boxes: optional ``{"head"|"upper"|"legs": (x0, y0, x1, y1)}`` in pixels of the stored image.
        part_masks: optional part label map (an image file: 0 background, ``k`` the ``k``-th part of
            :data:`PART_NAMES`), same size as the stored image.
        modality_paths: for multi-modal object ReID, one image per modality of the same instant
            (``{"rgb": path, "nir": path, "tir": path}``); ``path`` is then the RGB one and ``modality``
            ``"multi"``. Loaded as one ``(M, 3, H, W)`` tensor in :data:`TUPLE_ORDER`.
    """

    path: str
    pid: int
    camid: int
    domain: str
    modality: str = "rgb"
    caption: Optional[str] = None
    attributes: Optional[dict] = None
    part_boxes: Optional[dict] = None
    modality_paths: Optional[dict] = None
    part_masks: Optional[str] = None
    caption_parts: Optional[dict] = None

    def image_paths(self) -> list[str]:
        """Every file this sample reads (one, or one per modality)."""
        if self.modality_paths:
            return [self.modality_paths[m] for m in tuple_modalities(self)]
        return [self.path]


def tuple_modalities(sample: Sample) -> tuple[str, ...]:
    """The modalities of a multi-modal sample in the order they are loaded (:data:`TUPLE_ORDER`), e.g.
    ``("rgb", "nir", "tir")``; ``()`` for a single image."""
    return tuple(m for m in TUPLE_ORDER if m in (sample.modality_paths or {}))


@dataclass
class DomainData:
    """A dataset split the way ReID protocols use it.

    Attributes:
        name: domain name used in results (``results.json`` columns).
        train: training samples (may be empty for a test-only, unseen domain).
        query: query samples.
        gallery: gallery samples (junk ``pid=-1`` and distractors ``pid=0`` included; evaluation handles them).
        root: where it was read from (for messages), or ``None`` for generated data.
        image_loader: callable ``Sample -> PIL.Image`` used by :class:`~lifelong_reid.data.ReIDDataset`;
            ``None`` means "open ``sample.path`` from disk".
        protocol: evaluation protocol (:func:`lifelong_reid.evaluation.protocol_names`): ``"market1501"``, or
            ``"single_camera"`` for one-camera datasets.
        warnings: what the reader or :func:`~lifelong_reid.data.attach_side_info` counted and let through
            (e.g. side-file entries naming no image); a run prints them before training.
    """

    name: str
    train: list[Sample] = field(default_factory=list)
    query: list[Sample] = field(default_factory=list)
    gallery: list[Sample] = field(default_factory=list)
    root: Optional[str] = None
    image_loader: Optional[Callable] = None
    protocol: str = "market1501"
    warnings: list = field(default_factory=list)

    def all_samples(self) -> list[Sample]:
        """Train, query and gallery samples, in that order."""
        return [*self.train, *self.query, *self.gallery]

    def image_paths(self) -> list[str]:
        """Every image file of :meth:`all_samples` (all modalities of a tuple)."""
        return [p for s in self.all_samples() for p in s.image_paths()]

    def __repr__(self) -> str:  # the dataclass repr would print every sample
        counts = ", ".join(f"{split}={len(getattr(self, split))}" for split in ("train", "query", "gallery"))
        return f"DomainData({self.name!r}, {counts}, root={self.root!r}, protocol={self.protocol!r})"

    def stats(self) -> dict:
        """Image, identity and camera counts per split, e.g. ``{"train": {"images": 2882, ...}}``."""
        out = {}
        for split in ("train", "query", "gallery"):
            samples = getattr(self, split)
            out[split] = {
                "images": len(samples),
                "ids": len({s.pid for s in samples if s.pid != JUNK_PID}),
                "cameras": len({s.camid for s in samples}),
            }
        return out
