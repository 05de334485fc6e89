"""Restricting multi-modal tuples to a subset of their modalities (GraFT Tables 6-7: R, N, T alone and every
combination, at training and at test time).

Shapes: a tuple sample loads as ``(M, 3, H, W)`` with ``M`` the number of modalities it keeps, in
:data:`~lifelong_reid.data.sample.TUPLE_ORDER`; a subset of one modality still loads as a tuple (``M = 1``), so
a model built for tuples runs unchanged.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from lifelong_reid.data.sample import TUPLE_ORDER, DomainData, Sample
from lifelong_reid.errors import ConfigError, DatasetLayoutError


def parse_modalities(modalities: Sequence[str] | str) -> tuple[str, ...]:
    """``"rgb,tir"``, ``"RT"`` (the papers' letters R, N, T) or ``["rgb", "tir"]`` -> ``("rgb", "tir")`` in
    :data:`TUPLE_ORDER`.

    Raises:
        ConfigError: empty, an unknown name, or a repeated one.
    """
    letters = {"r": "rgb", "n": "nir", "t": "tir"}
    if isinstance(modalities, str):
        text = modalities.strip().lower()
        names = [p.strip() for p in text.split(",")] if ("," in text or text in TUPLE_ORDER) else [
            letters.get(c, c) for c in text]
    else:
        names = [str(m).strip().lower() for m in modalities]
    unknown = [m for m in names if m not in TUPLE_ORDER]
    if not names or unknown:
        raise ConfigError(f"modalities must name some of {', '.join(TUPLE_ORDER)} (or the letters R, N, T); "
                          f"got {modalities!r}")
    if len(set(names)) != len(names):
        raise ConfigError(f"modalities {modalities!r} repeat a modality")
    return tuple(m for m in TUPLE_ORDER if m in names)


def select_modalities(domain: DomainData, modalities: Sequence[str] | str) -> DomainData:
    """A copy of ``domain`` whose tuple samples keep only ``modalities`` (see :func:`parse_modalities`).

    Raises:
        ConfigError: bad ``modalities``.
        DatasetLayoutError: a sample is not a multi-modal tuple, or lacks one of ``modalities`` (the message
            names the sample's file).
    """
    keep = parse_modalities(modalities)

    def one(sample: Sample) -> Sample:
        paths = sample.modality_paths or {}
        missing = [m for m in keep if m not in paths]
        if missing:
            what = "is not a multi-modal tuple" if not paths else f"has no {', '.join(missing)} image"
            raise DatasetLayoutError(f"{sample.path} ({domain.name}) {what}; modality subsets ({', '.join(keep)}) "
                                     "need RGB/NIR/TIR tuples such as rgbnt201, rgbnt100, msvr310")
        return replace(sample, modality_paths={m: paths[m] for m in keep})

    return replace(domain, train=[one(s) for s in domain.train], query=[one(s) for s in domain.query],
                   gallery=[one(s) for s in domain.gallery])
