"""The mini-batch every hook receives: :class:`ReIDBatch`, and :func:`collate_reid` that builds it.

Shapes: ``B`` samples, ``M`` modalities of a tuple, ``P`` parts (:data:`~lifelong_reid.data.sample.PART_NAMES`),
``A`` attribute names, ``H x W`` image size in pixels.

A dataset item (:class:`~lifelong_reid.data.ReIDDataset`) is ``[x, target, pid, camid, index, meta]``:
``x`` the transformed image ``(3, H, W)`` or tuple ``(M, 3, H, W)``, or a dict ``{"image": ..., "part_boxes":
..., "part_masks": ...}`` when the dataset carries geometric side information (transformed with the image);
``meta`` a dict with ``domain``, ``modality`` and the non-geometric side information. Items of 5 elements
(no ``meta``) are accepted too.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional

import torch

#: Keys of :attr:`ReIDBatch.side` and what they hold.
SIDE_KEYS = {
    "captions": "list of B strings or None: the samples' captions",
    "attributes": "list of B dicts or None: the samples' named attributes ({'upper_color': 'red', ...})",
    "attribute_ids": "(B, A) long: attribute values as indices into dataset.attribute_vocab (-1: unknown)",
    "part_boxes": "(B, P, 4) float: head/upper/legs boxes x0, y0, x1, y1 in pixels of the transformed image "
                  "(NaN rows: no box); moved by the same flip/crop/resize as the image",
    "part_masks": "(B, H, W) uint8: part label map (0 background, k = k-th part) of the transformed image",
    "tuple_modalities": "tuple of M names: the modalities of a multi-modal batch, in their order along images' "
                        "axis 1 (e.g. ('rgb', 'tir') for a stream restricted to RGB and TIR)",
    "views": "{name: (B, 3, H, W) float}: extra augmented views of the training images, asked for by plugins in "
             "lreid_train_views (training batches only)",
}


@dataclass
class ReIDBatch:
    """One mini-batch.

    Attributes:
        images: ``(B, 3, H, W)`` images or ``(B, M, 3, H, W)`` multi-modal tuples.
        targets: ``(B,)`` training labels (``-1``: none). During training they come from
            ``strategy.targets`` (pseudo-labels included), not from the dataset.
        pids, camids: ``(B,)`` the dataset's original identities and cameras.
        indices: ``(B,)`` sample indices in the experience's dataset.
        domain: ``B`` dataset names. modality: ``B`` modality names (``"rgb"``, ``"ir"``, ``"nir"``,
            ``"tir"``, ``"multi"`` for tuples).
        side: side information by name (see :data:`SIDE_KEYS`); only what the samples carry is present, and
            in training batches the geometric kind (``part_boxes``, ``part_masks``) only when an active plugin
            declares it in its ``side_info``.

    ``batch["targets"]`` reads a field by name (the form of the 0.x API); ``len(batch)`` is ``B``.
    """

    images: torch.Tensor
    targets: torch.Tensor
    pids: torch.Tensor
    camids: torch.Tensor
    indices: torch.Tensor
    domain: list = field(default_factory=list)
    modality: list = field(default_factory=list)
    side: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ access
    def __getitem__(self, key: str):
        if key in self.side:
            return self.side[key]
        if key in _FIELDS:
            return getattr(self, key)
        raise KeyError(f"ReIDBatch has no {key!r}; fields: {', '.join(_FIELDS)}; side: {', '.join(self.side)}")

    def __contains__(self, key: str) -> bool:
        return key in _FIELDS or key in self.side

    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_modalities(self) -> int:
        """``M`` (1 for plain images)."""
        return int(self.images.shape[1]) if self.images.dim() == 5 else 1

    # ------------------------------------------------------------------ devices
    def to(self, device, non_blocking: bool = False) -> "ReIDBatch":
        """A copy with every tensor (fields and side) on ``device``."""
        def move(v):
            if isinstance(v, dict):
                return {k: move(x) for k, x in v.items()}
            return v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v
        return ReIDBatch(**{f: move(getattr(self, f)) for f in _FIELDS if f != "side"},
                         side={k: move(v) for k, v in self.side.items()})

    def pin_memory(self) -> "ReIDBatch":
        """Pinned host copies of the tensors (called by ``DataLoader(pin_memory=True)``)."""
        def pin(v):
            if isinstance(v, dict):
                return {k: pin(x) for k, x in v.items()}
            return v.pin_memory() if torch.is_tensor(v) else v
        return ReIDBatch(**{f: pin(getattr(self, f)) for f in _FIELDS if f != "side"},
                         side={k: pin(v) for k, v in self.side.items()})

    def describe(self) -> str:
        """``ReIDBatch(B=8, images=(8, 3, 64, 32), side=[captions, part_boxes])`` (for traces and errors)."""
        side = f", side=[{', '.join(self.side)}]" if self.side else ""
        return f"ReIDBatch(B={len(self)}, images={tuple(self.images.shape)}{side})"


_FIELDS = tuple(f.name for f in fields(ReIDBatch))


def _stack(values: list) -> Optional[torch.Tensor]:
    return torch.stack([torch.as_tensor(v) for v in values])


def collate_reid(items: list) -> ReIDBatch:
    """Build a :class:`ReIDBatch` from dataset items (see the module docstring).

    Raises:
        ValueError: items of different kinds (some with side information, some without).
    """
    first = items[0]
    xs = [it[0] for it in items]
    side: dict[str, Any] = {}
    if isinstance(first[0], dict):
        if not all(isinstance(x, dict) for x in xs):
            raise ValueError("a batch mixes items with and without geometric side information")
        images = torch.stack([x["image"] for x in xs])
        for key in first[0]:
            if key != "image":
                side[key] = torch.stack([torch.as_tensor(x[key]) for x in xs])
    else:
        images = torch.stack(xs)
    metas = [it[5] if len(it) > 5 else {} for it in items]
    domain = [m.get("domain", "") for m in metas]
    modality = [m.get("modality", "") for m in metas]
    for key in ("captions", "attributes"):
        if any(key in m for m in metas):
            side[key] = [m.get(key) for m in metas]
    if any("tuple_modalities" in m for m in metas):
        kinds = {tuple(m.get("tuple_modalities", ())) for m in metas}
        if len(kinds) > 1:
            raise ValueError(f"a batch mixes tuples of different modalities: {sorted(kinds)}")
        side["tuple_modalities"] = kinds.pop()
    if any("views" in m for m in metas):
        if not all("views" in m for m in metas):
            raise ValueError("a batch mixes items with and without extra views")
        side["views"] = {name: torch.stack([m["views"][name] for m in metas]) for name in metas[0]["views"]}
    if any("attribute_ids" in m for m in metas):
        side["attribute_ids"] = _stack([m["attribute_ids"] for m in metas])
    return ReIDBatch(images=images, targets=torch.as_tensor([int(it[1]) for it in items]),
                     pids=torch.as_tensor([int(it[2]) for it in items]),
                     camids=torch.as_tensor([int(it[3]) for it in items]),
                     indices=torch.as_tensor([int(it[4]) for it in items]),
                     domain=domain, modality=modality, side=side)
