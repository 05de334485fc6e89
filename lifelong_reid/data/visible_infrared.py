"""Readers for visible-infrared ReID datasets: SYSU-MM01, RegDB, LLCM. Samples carry ``modality``
(``"rgb"`` visible, ``"ir"`` infrared / near-infrared / thermal).

SYSU-MM01 (Wu et al., ICCV 2017)::

    SYSU-MM01/cam1 .. cam6/PPPP/NNNN.jpg    visible: cam1, cam2, cam4, cam5; infrared: cam3, cam6
    SYSU-MM01/exp/train_id.txt, val_id.txt, test_id.txt   one line of comma-separated identities

Training = train + val identities (as AGW and its followers do); query = every infrared image of the test
identities; gallery = every visible image of the test identities (evaluation draws the single- or
multi-shot gallery per trial: protocol ``sysu_mm01``). Camera ids keep SYSU's own numbers 1..6, the
numbering its protocol is written in (camera-3 queries do not see camera 2).

RegDB (Nguyen et al., Sensors 2017)::

    RegDB/Visible/..., RegDB/Thermal/...
    RegDB/idx/train_visible_T.txt, train_thermal_T.txt, test_visible_T.txt, test_thermal_T.txt   (T = 1..10)
        lines "Visible/122/female_back_v_05887_122.bmp 0"   (relative path, label)

Split ``T`` trains on its train lists and tests visible -> thermal (query visible) or thermal -> visible;
visible images get camid 1, thermal camid 2; protocol ``regdb``.

LLCM (Zhang & Wang, CVPR 2023)::

    LLCM/idx/train_vis.txt, train_nir.txt, test_vis.txt, test_nir.txt   lines "PATH LABEL"
        PATH e.g. "test_nir/cam1/0001/0001_c01_s185535_f7010_nir.jpg"; the camera is the _cNN field

Directions ``"infrared_to_visible"`` (the default of the reference test code) and ``"visible_to_infrared"``;
protocol ``llcm``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from lifelong_reid.data.market1501 import list_images
from lifelong_reid.data.sample import DomainData, Sample
from lifelong_reid.errors import DatasetLayoutError

SYSU_VISIBLE, SYSU_INFRARED = (1, 2, 4, 5), (3, 6)
DIRECTIONS = ("visible_to_infrared", "infrared_to_visible")


def _read_ids(path: Path) -> list[int]:
    if not path.is_file():
        raise DatasetLayoutError(f"{path} is missing; SYSU-MM01 needs exp/train_id.txt, val_id.txt, test_id.txt")
    try:
        return [int(x) for x in path.read_text().split(",") if x.strip()]
    except ValueError:
        raise DatasetLayoutError(f"{path}: expected one line of comma-separated identities") from None


def read_sysu_mm01(root: str | os.PathLike, name: str = "sysu-mm01") -> DomainData:
    """Read SYSU-MM01 (see the module docstring).

    Raises:
        DatasetLayoutError: missing ``exp/`` id files or camera folders.
    """
    root = Path(root)
    train_ids = set(_read_ids(root / "exp" / "train_id.txt")) | set(_read_ids(root / "exp" / "val_id.txt"))
    test_ids = set(_read_ids(root / "exp" / "test_id.txt"))
    data = DomainData(name=name, root=str(root), protocol="sysu_mm01")
    for cam in (*SYSU_VISIBLE, *SYSU_INFRARED):
        cam_dir = root / f"cam{cam}"
        if not cam_dir.is_dir():
            raise DatasetLayoutError(f"{cam_dir} is missing; SYSU-MM01 has cam1/ .. cam6/")
        modality = "ir" if cam in SYSU_INFRARED else "rgb"
        for pid_dir in sorted(p for p in cam_dir.iterdir() if p.is_dir()):
            if not pid_dir.name.isdigit():
                continue
            pid = int(pid_dir.name)
            split = "train" if pid in train_ids else ("query" if modality == "ir" else "gallery") \
                if pid in test_ids else None
            if split is None:
                continue
            getattr(data, split).extend(Sample(str(pid_dir / f), pid, cam, domain=name, modality=modality)
                                        for f in list_images(pid_dir))
    return data


def _read_index(path: Path, root: Path, name: str, modality: str, camid=None) -> list[Sample]:
    if not path.is_file():
        raise DatasetLayoutError(f"{path} is missing")
    samples = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rel, label = line.split()
            cam = camid if camid is not None else int(re.search(r"_c(\d+)", Path(rel).name).group(1))
            samples.append(Sample(str(root / rel), int(label), cam, domain=name, modality=modality))
        except (ValueError, AttributeError):
            raise DatasetLayoutError(f"{path}:{lineno}: expected 'RELATIVE/PATH.jpg LABEL', got {line!r}") from None
    return samples


def _direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise DatasetLayoutError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return direction


def read_regdb(root: str | os.PathLike, name: str = "regdb", trial: int = 1,
               direction: str = "visible_to_infrared") -> DomainData:
    """RegDB split ``trial`` (1..10) in one direction (see the module docstring)."""
    root, idx = Path(root), Path(root) / "idx"
    if not 1 <= trial <= 10:
        raise DatasetLayoutError(f"RegDB trial must be 1..10, got {trial}")
    _direction(direction)
    vis = lambda split: _read_index(idx / f"{split}_visible_{trial}.txt", root, name, "rgb", 1)  # noqa: E731
    th = lambda split: _read_index(idx / f"{split}_thermal_{trial}.txt", root, name, "ir", 2)  # noqa: E731
    query, gallery = (vis("test"), th("test")) if direction == "visible_to_infrared" else (th("test"), vis("test"))
    return DomainData(name=name, train=vis("train") + th("train"), query=query, gallery=gallery, root=str(root),
                      protocol="regdb")


def read_llcm(root: str | os.PathLike, name: str = "llcm", direction: str = "infrared_to_visible") -> DomainData:
    """LLCM in one direction (see the module docstring)."""
    root, idx = Path(root), Path(root) / "idx"
    _direction(direction)
    train = _read_index(idx / "train_vis.txt", root, name, "rgb") + _read_index(idx / "train_nir.txt", root, name, "ir")
    vis, nir = _read_index(idx / "test_vis.txt", root, name, "rgb"), _read_index(idx / "test_nir.txt", root, name, "ir")
    query, gallery = (vis, nir) if direction == "visible_to_infrared" else (nir, vis)
    return DomainData(name=name, train=train, query=query, gallery=gallery, root=str(root), protocol="llcm")
