"""Readers for the small test-only ("unseen") datasets of lifelong ReID, each on its standard test split as
torchreid defines it (the split the lifelong ReID code evaluates). Only query and gallery are read.

Trees (under the data root; the folder names the lifelong ReID code uses)::

    sensereid/SenseReID/test_probe/PID_CAM.jpg, test_gallery/PID_CAM.jpg
    prid2011/single_shot/cam_a/person_0001.png ... (385), cam_b/person_0001.png ... (749)
        [prid2011/splits_single_shot.json]  torchreid's split file: [{"train": [pids], "test": [pids]}, ...]
    viper/VIPeR/cam_a/*.bmp, cam_b/*.bmp   (632 pairs, matched by sorted order)
        [viper/splits.json]  torchreid's split file (entries [path, pid, camid]; matched by file name)
    cuhk01/campus/PPPPNNN.png   (971 identities x 4; NNN 001-002 camera 0, 003-004 camera 1)
    cuhk02/Dataset/P1..P5/cam1/*.png, cam2/*.png   (PID_N.png)
    grid/underground_reid/probe/PPPP_C_*.jpeg, gallery/*.jpeg (pid 0000: distractors),
        features_and_partitions.mat (trainIdxAll: the 10 official partitions)
    ilids/i-LIDS_Pedestrian/Persons/PPPPSSS.jpg   (119 identities, 476 images)

Test splits (split 0 when a split file is present, else drawn as torchreid draws them, seeded with 0):

- SenseReID: the fixed test_probe / test_gallery (522 / 1,717 identities);
- PRID-2011 single-shot: 100 of the 200 identities seen by both cameras; query = their cam_a image,
  gallery = their cam_b image plus cam_b identities 201-749 (distractors);
- VIPeR: 316 test identities; query = cam_a, gallery = cam_b;
- CUHK01: 486 test identities; query = camera 0 images, gallery = camera 1 images;
- CUHK02: camera pair P5 is the test set; query = cam1, gallery = cam2;
- GRID: the official partition 0 (``trainIdxAll``): the 125 other identities' probe images are the
  queries; their gallery images plus the 775 distractors are the gallery;
- i-LIDS: 60 test identities (119 - 59); for each, one image is the query (camid 0) and another the gallery
  image (camid 1), drawn with the seed.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Optional

import numpy as np

from lifelong_reid.data.market1501 import list_images
from lifelong_reid.data.sample import DomainData, Sample
from lifelong_reid.errors import DatasetLayoutError

SPLIT_SEED = 0


def _folder(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetLayoutError(f"{path} is missing; expected {what}")
    return path


def _images(folder: Path) -> list[str]:
    names = list_images(folder)
    if not names:
        raise DatasetLayoutError(f"{folder} holds no images")
    return names


def read_sensereid(root: str | os.PathLike, name: str = "sensereid") -> DomainData:
    """SenseReID (Zhao et al., CVPR 2017): ``root`` is the ``sensereid`` folder (or ``SenseReID`` itself)."""
    root = Path(root)
    base = root / "SenseReID" if (root / "SenseReID").is_dir() else root
    data = DomainData(name=name, root=str(root))
    for split, sub in (("query", "test_probe"), ("gallery", "test_gallery")):
        folder = _folder(base / sub, "SenseReID/test_probe/ and SenseReID/test_gallery/ with PID_CAM.jpg images")
        samples = []
        for f in _images(folder):
            try:
                pid, cam = (int(x) for x in Path(f).stem.split("_"))
            except ValueError:
                raise DatasetLayoutError(f"{folder / f}: SenseReID file names are PID_CAM.jpg") from None
            samples.append(Sample(str(folder / f), pid, cam, domain=name))
        setattr(data, split, samples)
    return data


def _split_file(path: Path) -> Optional[list]:
    if not path.is_file():
        return None
    try:
        splits = json.loads(path.read_text())
        splits[0]
    except (ValueError, IndexError, KeyError, TypeError):
        raise DatasetLayoutError(f"{path}: not a torchreid split file (a JSON list of splits)") from None
    return splits


def read_prid(root: str | os.PathLike, name: str = "prid") -> DomainData:
    """PRID-2011 single-shot (Hirzer et al., SCIA 2011): ``root`` is the ``prid2011`` folder."""
    root = Path(root)
    base = root / "prid_2011" if (root / "prid_2011" / "single_shot").is_dir() else root  # torchreid's extra level
    shot = _folder(base / "single_shot", "prid2011/single_shot/cam_a/ and cam_b/ (person_0001.png ...)")
    cam_a, cam_b = _folder(shot / "cam_a", "single_shot/cam_a/"), _folder(shot / "cam_b", "single_shot/cam_b/")
    splits = _split_file(root / "splits_single_shot.json")
    if splits is not None:
        test = sorted(splits[0]["test"])
    else:
        train = random.Random(SPLIT_SEED).sample(range(1, 201), 100)
        test = [p for p in range(1, 201) if p not in set(train)]

    def sample(folder, pid, cam):
        path = folder / f"person_{pid:04d}.png"
        if not path.is_file():
            raise DatasetLayoutError(f"{path} is missing; PRID-2011 single_shot has person_0001..0385 in cam_a and "
                                     "person_0001..0749 in cam_b")
        return Sample(str(path), pid, cam, domain=name)

    query = [sample(cam_a, p, 0) for p in test]
    gallery = [sample(cam_b, p, 1) for p in test] + [sample(cam_b, p, 1) for p in range(201, 750)]
    return DomainData(name=name, query=query, gallery=gallery, root=str(root))


def read_viper(root: str | os.PathLike, name: str = "viper") -> DomainData:
    """VIPeR (Gray et al., PETS 2007): ``root`` is the ``viper`` folder holding ``VIPeR/cam_a`` and
    ``VIPeR/cam_b``."""
    root = Path(root)
    base = root / "VIPeR" if (root / "VIPeR").is_dir() else root
    a_dir, b_dir = (_folder(base / c, "VIPeR/cam_a/ and VIPeR/cam_b/ (.bmp)") for c in ("cam_a", "cam_b"))
    a, b = _images(a_dir), _images(b_dir)
    if len(a) != len(b):
        raise DatasetLayoutError(f"{base}: cam_a has {len(a)} images and cam_b {len(b)}; VIPeR pairs them one to one")
    splits = _split_file(root / "splits.json")
    if splits is not None:
        names_a = {Path(str(e[0])).name for e in splits[0]["query"]}
        test = [i for i, f in enumerate(a) if f in names_a]
        if not test:
            raise DatasetLayoutError(f"{root / 'splits.json'}: none of its query images is in {a_dir}")
    else:
        test = sorted(np.random.RandomState(SPLIT_SEED).permutation(len(a))[len(a) // 2:].tolist())
    query = [Sample(str(a_dir / a[i]), i, 0, domain=name) for i in test]
    gallery = [Sample(str(b_dir / b[i]), i, 1, domain=name) for i in test]
    return DomainData(name=name, query=query, gallery=gallery, root=str(root))


def read_cuhk01(root: str | os.PathLike, name: str = "cuhk01") -> DomainData:
    """CUHK01 (Li et al., ACCV 2012): ``root`` is the ``cuhk01`` folder holding ``campus/``."""
    root = Path(root)
    campus = _folder(root / "campus", "cuhk01/campus/ with PPPPNNN.png images")
    by_pid: dict[int, list[tuple[str, int]]] = {}
    for f in _images(campus):
        stem = Path(f).stem
        if len(stem) != 7 or not stem.isdigit():
            raise DatasetLayoutError(f"{campus / f}: CUHK01 file names are PPPPNNN.png (identity, image 001-004)")
        by_pid.setdefault(int(stem[:4]), []).append((f, (int(stem[4:]) - 1) // 2))
    pids = sorted(by_pid)
    order = np.random.RandomState(SPLIT_SEED).permutation(len(pids))
    test = sorted(pids[i] for i in order[len(pids) // 2:])
    query, gallery = [], []
    for p in test:
        for f, cam in by_pid[p]:
            (query if cam == 0 else gallery).append(Sample(str(campus / f), p, cam, domain=name))
    return DomainData(name=name, query=query, gallery=gallery, root=str(root))


def read_cuhk02(root: str | os.PathLike, name: str = "cuhk02", test_pair: str = "P5") -> DomainData:
    """CUHK02 (Li & Wang, CVPR 2013): ``root`` is the ``cuhk02`` folder holding ``Dataset/P1..P5``."""
    root = Path(root)
    base = root / "Dataset" if (root / "Dataset").is_dir() else root
    pair = _folder(base / test_pair, f"cuhk02/Dataset/{test_pair}/cam1/ and cam2/")
    data = DomainData(name=name, root=str(root))
    for split, cam in (("query", 0), ("gallery", 1)):
        folder = _folder(pair / f"cam{cam + 1}", f"cuhk02/Dataset/{test_pair}/cam1/ and cam2/")
        samples = []
        for f in _images(folder):
            try:
                pid = int(Path(f).stem.split("_")[0])
            except ValueError:
                raise DatasetLayoutError(f"{folder / f}: CUHK02 file names are PID_N.png") from None
            samples.append(Sample(str(folder / f), pid, cam, domain=name))
        setattr(data, split, samples)
    return data


def read_grid(root: str | os.PathLike, name: str = "grid", partition: int = 0) -> DomainData:
    """GRID (Loy et al., CVPR 2009): ``root`` is the ``grid`` folder (``underground_reid/`` inside, or the
    ``underground_reid`` folder itself).

    Raises:
        DatasetLayoutError: missing folders or partition file, or file names outside ``PPPP_C_*.jpeg``.
    """
    from scipy.io import loadmat

    root = Path(root)
    base = root / "underground_reid" if (root / "underground_reid").is_dir() else root
    mat = base / "features_and_partitions.mat"
    if not mat.is_file():
        raise DatasetLayoutError(f"{mat} is missing; GRID's official partitions are read from it")
    try:
        train_ids = {int(i) for i in loadmat(str(mat))["trainIdxAll"][0][partition][0][0][2][0]}
    except (KeyError, IndexError, ValueError) as e:
        raise DatasetLayoutError(f"{mat}: no trainIdxAll partition {partition} ({e})") from None
    data = DomainData(name=name, root=str(root))
    for split, sub in (("query", "probe"), ("gallery", "gallery")):
        folder = _folder(base / sub, "underground_reid/probe/ and gallery/ with PPPP_C_*.jpeg images")
        samples = []
        for f in _images(folder):
            try:
                pid, cam = (int(x) for x in f.split("_")[:2])
            except ValueError:
                raise DatasetLayoutError(f"{folder / f}: GRID file names are PPPP_C_*.jpeg") from None
            if pid not in train_ids:
                samples.append(Sample(str(folder / f), pid, cam - 1, domain=name))
        setattr(data, split, samples)
    return data


def read_ilids(root: str | os.PathLike, name: str = "ilids") -> DomainData:
    """QMUL i-LIDS (Zheng et al., BMVC 2009): ``root`` is the ``ilids`` folder holding
    ``i-LIDS_Pedestrian/Persons/``."""
    root = Path(root)
    persons = _folder(root / "i-LIDS_Pedestrian" / "Persons", "ilids/i-LIDS_Pedestrian/Persons/ (PPPPSSS.jpg)")
    by_pid: dict[int, list[str]] = {}
    for f in _images(persons):
        stem = Path(f).stem
        if len(stem) != 7 or not stem.isdigit():
            raise DatasetLayoutError(f"{persons / f}: i-LIDS file names are PPPPSSS.jpg")
        by_pid.setdefault(int(stem[:4]), []).append(f)
    pids = sorted(p for p, files in by_pid.items() if len(files) >= 2)
    rng = random.Random(SPLIT_SEED)
    test = sorted(rng.sample(pids, len(pids) - len(pids) // 2))
    query, gallery = [], []
    for p in test:
        q, g = rng.sample(by_pid[p], 2)
        query.append(Sample(str(persons / q), p, 0, domain=name))
        gallery.append(Sample(str(persons / g), p, 1, domain=name))
    return DomainData(name=name, query=query, gallery=gallery, root=str(root))
