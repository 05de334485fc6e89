"""Reader for MSMT17 (Wei et al., "Person Transfer GAN", CVPR 2018), V1 and V2 releases.

Expected tree (as distributed, and as torchreid reads it)::

    MSMT17_V1/                               MSMT17_V2/
      train/0000/0000_000_01_0303morning_0015_0.jpg   mask_train_v2/0000/...
      test/0000/0000_000_01_0303morning_0008_0.jpg    mask_test_v2/0000/...
      list_train.txt   "0000/0000_000_01_0303morning_0015_0.jpg 0"  (relative path, pid)
      list_val.txt     (same format; merged into training, as torchreid does)
      list_query.txt
      list_gallery.txt

The camera is the third ``_``-separated field of the file name (``01`` -> camid 0); 15 cameras.
"""
from __future__ import annotations

import os
from pathlib import Path

from lifelong_reid.data.sample import DomainData, Sample
from lifelong_reid.errors import DatasetLayoutError

VERSIONS = {"v1": ("train", "test"), "v2": ("mask_train_v2", "mask_test_v2")}
LISTS = {"train": ("list_train.txt", "list_val.txt"), "query": ("list_query.txt",), "gallery": ("list_gallery.txt",)}


def detect_version(root: Path) -> str:
    """``"v1"`` or ``"v2"`` from the image folders present.

    Raises:
        DatasetLayoutError: neither ``train/`` + ``test/`` nor ``mask_train_v2/`` + ``mask_test_v2/``.
    """
    for version, (train, test) in VERSIONS.items():
        if (root / train).is_dir() and (root / test).is_dir():
            return version
    raise DatasetLayoutError(f"{root}: not an MSMT17 folder; expected train/ and test/ (V1) or mask_train_v2/ and "
                             "mask_test_v2/ (V2) next to list_train.txt, list_val.txt, list_query.txt, "
                             "list_gallery.txt")


def _read_list(path: Path, image_dir: Path, name: str, check_files: bool) -> list[Sample]:
    if not path.is_file():
        raise DatasetLayoutError(f"{path} is missing; MSMT17 needs list_train.txt, list_val.txt, list_query.txt "
                                 "and list_gallery.txt next to the image folders")
    samples = []
    with open(path) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                rel, pid = line.split()
                camid = int(Path(rel).name.split("_")[2]) - 1
                pid = int(pid)
            except ValueError:
                raise DatasetLayoutError(f"{path}:{lineno}: expected 'PID/PID_NNN_CC_..._N.jpg PID', got {line!r}") \
                    from None
            image = image_dir / rel
            if check_files and not image.is_file():
                raise DatasetLayoutError(f"{path}:{lineno}: {image} does not exist; is the download complete?")
            samples.append(Sample(path=str(image), pid=pid, camid=camid, domain=name))
    return samples


def read_msmt17(root: str | os.PathLike, name: str = "msmt17", check_files: bool = False) -> DomainData:
    """Read MSMT17 V1 or V2 (detected from the folders).

    Args:
        root: the ``MSMT17_V1`` / ``MSMT17_V2`` folder.
        check_files: also verify that every listed image exists (one ``stat`` per image).

    Raises:
        DatasetLayoutError: missing folder or list file, a malformed list line, a missing image.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: MSMT17 folder not found")
    train_dir, test_dir = (root / d for d in VERSIONS[detect_version(root)])
    data = DomainData(name=name, root=str(root))
    for split, files in LISTS.items():
        image_dir = train_dir if split == "train" else test_dir
        samples = []
        for f in files:
            samples += _read_list(root / f, image_dir, name, check_files)
        setattr(data, split, samples)
    return data
