"""Readers for multi-modal object ReID (RGB, near-infrared, thermal-infrared): one sample is a tuple of
the three modalities of the same instant (``Sample.modality == "multi"``), loaded as ``(3, 3, H, W)``.

RGBNT201 (Zheng et al., AAAI 2021; persons)::

    RGBNT201/train_171/RGB/000001_cam1_0_00.jpg, NI/<same name>, TI/<same name>
    RGBNT201/test/RGB/..., NI/..., TI/...          (query = gallery = the test set)

identity = the first 6 digits of the name, camera = the digit after ``cam`` (1-based in the name).

RGBNT100 (Li et al., AAAI 2020; vehicles)::

    RGBNT100/rgbir/bounding_box_train/PPPP_cC_*.jpg, query/, bounding_box_test/

each file holds the three modalities side by side (RGB | NIR | TIR), split into equal thirds when loaded.

MSVR310 (Zheng et al., 2022; vehicles)::

    MSVR310/bounding_box_train/PPPP/vis/PPPP_sSSS_vVVV_III.jpg, ni/<name with vis->ni>, th/<vis->th>
    MSVR310/query3/..., bounding_box_test/...

The camera id is the ``s`` field (the capture scene); the evaluation's same-identity-same-camera rule then
removes the query's own scene, as the reference code's ``sceneid`` does.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from lifelong_reid.data.image_io import open_rgb
from lifelong_reid.data.market1501 import list_images, parse_market_name
from lifelong_reid.data.sample import TUPLE_ORDER, DomainData, Sample, tuple_modalities
from lifelong_reid.errors import DatasetLayoutError

_RGBNT201_FOLDERS = {"rgb": "RGB", "nir": "NI", "tir": "TI"}
_MSVR_NAME = re.compile(r"^(-?\d+)_s(\d+)_v(\d+)_(\d+)")


def _need(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetLayoutError(f"{path} is missing; expected {what}")
    return path


def read_rgbnt201(root: str | os.PathLike, name: str = "rgbnt201") -> DomainData:
    """Read RGBNT201 (see the module docstring).

    Raises:
        DatasetLayoutError: a missing modality folder, a name outside ``PPPPPP_camC_*``, or an RGB image
            without its NI / TI counterpart.
    """
    root = Path(root)
    data = DomainData(name=name, root=str(root))
    for split, sub in (("train", "train_171"), ("query", "test")):
        folder = _need(root / sub, "RGBNT201/train_171/ and test/, each with RGB/, NI/, TI/")
        dirs = {m: _need(folder / f, f"{folder}/RGB/, NI/ and TI/") for m, f in _RGBNT201_FOLDERS.items()}
        samples = []
        for f in list_images(dirs["rgb"]):
            parts = f.split("_")
            try:
                pid, cam = int(parts[0][:6]), int(parts[1][3]) - 1
            except (ValueError, IndexError):
                raise DatasetLayoutError(f"{dirs['rgb'] / f}: RGBNT201 names are PPPPPP_camC_*.jpg") from None
            paths = {m: str(d / f) for m, d in dirs.items()}
            for m in ("nir", "tir"):
                if not Path(paths[m]).is_file():
                    raise DatasetLayoutError(f"{paths[m]} is missing: every RGB image needs its NI and TI image")
            samples.append(Sample(paths["rgb"], pid, cam, name, modality="multi", modality_paths=paths))
        setattr(data, split, samples)
    data.gallery = list(data.query)
    return data


class StitchedTupleLoader:
    """Loads an image holding ``n`` modalities side by side (in :data:`TUPLE_ORDER`) and returns the
    equal-width crops of the modalities the sample keeps (all ``n`` unless restricted by
    :func:`~lifelong_reid.data.modality_subset.select_modalities`)."""

    def __init__(self, n: int = 3):
        self.n = n

    def __call__(self, sample: Sample):
        img = open_rgb(sample.path)
        w = img.width // self.n
        panels = [TUPLE_ORDER.index(m) for m in tuple_modalities(sample)] or range(self.n)
        return [img.crop((i * w, 0, (i + 1) * w, img.height)) for i in panels]


def read_rgbnt100(root: str | os.PathLike, name: str = "rgbnt100") -> DomainData:
    """Read RGBNT100 (see the module docstring); ``root`` is ``RGBNT100`` or its ``rgbir`` folder."""
    root = Path(root)
    base = root / "rgbir" if (root / "rgbir").is_dir() else root
    data = DomainData(name=name, root=str(root), image_loader=StitchedTupleLoader(3))
    for split, sub in (("train", "bounding_box_train"), ("query", "query"), ("gallery", "bounding_box_test")):
        folder = _need(base / sub, "RGBNT100/rgbir/bounding_box_train/, query/, bounding_box_test/")
        samples = []
        for f in list_images(folder):
            pid, cam = parse_market_name(f, folder)
            path = str(folder / f)  # one file holds the three panels
            samples.append(Sample(path, pid, cam, name, modality="multi",
                                  modality_paths={m: path for m in TUPLE_ORDER}))
        setattr(data, split, samples)
    return data


def read_msvr310(root: str | os.PathLike, name: str = "msvr310") -> DomainData:
    """Read MSVR310 (see the module docstring)."""
    root = Path(root)
    data = DomainData(name=name, root=str(root))
    for split, sub in (("train", "bounding_box_train"), ("query", "query3"), ("gallery", "bounding_box_test")):
        folder = _need(root / sub, "MSVR310/bounding_box_train/, query3/, bounding_box_test/ with PID/vis|ni|th/")
        samples = []
        for pid_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            vis = pid_dir / "vis"
            if not vis.is_dir():
                continue
            for f in list_images(vis):
                m = _MSVR_NAME.match(f)
                if m is None:
                    raise DatasetLayoutError(f"{vis / f}: MSVR310 names are PPPP_sSSS_vVVV_III.jpg")
                paths = {"rgb": str(vis / f), "nir": str(pid_dir / "ni" / f.replace("vis", "ni")),
                         "tir": str(pid_dir / "th" / f.replace("vis", "th"))}
                samples.append(Sample(paths["rgb"], int(m.group(1)), int(m.group(2)), name, modality="multi",
                                      modality_paths=paths))
        setattr(data, split, samples)
    return data
