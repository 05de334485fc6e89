"""Reader for the Market-1501 folder layout (also used by DukeMTMC-reID and Market-format exports).

Expected tree (Zheng et al., ICCV 2015; ``Market-1501-v15.09.15``)::

    ROOT/
      bounding_box_train/   0002_c1s1_000451_03.jpg ...   training images
      query/                0001_c1s1_001051_00.jpg ...   query images
      bounding_box_test/    0000_c1s1_000151_01.jpg ...   gallery images

File names are ``PPPP_cCsS_FFFFFF_BB.jpg``: identity ``PPPP`` (``-1`` junk, ``0000`` distractor), camera
``C`` (1-based in the name, 0-based in :class:`Sample`). Junk images are kept in the gallery with
``pid=-1`` so that counts match the dataset; evaluation ignores them. Junk in ``bounding_box_train`` (none
in the public release) is dropped.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from lifelong_reid.data.sample import JUNK_PID, DomainData, Sample
from lifelong_reid.errors import DatasetLayoutError

SPLIT_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_NAME = re.compile(r"^(-1|\d+)_c(\d+)")


def list_images(folder: Path) -> list[str]:
    """Sorted image file names in ``folder`` (non-image files such as ``Thumbs.db`` are skipped)."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.name.lower().endswith(IMAGE_SUFFIXES))


#: The file-name pattern of each dataset distributed in the Market-1501 layout (what an error quotes).
NAME_PATTERNS = {
    "market1501": ("Market-1501", "PPPP_cCsS_FFFFFF_BB.jpg"),
    "dukemtmc-reid": ("DukeMTMC-reID", "PPPP_cC_fFFFFFFF.jpg"),
    "cuhk03-np-detected": ("CUHK03-NP", "PPPP_cC_N.png"),
    "cuhk03-np-labeled": ("CUHK03-NP", "PPPP_cC_N.png"),
    "lpw": ("LPW (Market-1501 export)", "PPPP_cC_....jpg"),
}


def parse_market_name(name: str, folder: Path, dataset: str = "market1501") -> tuple[int, int]:
    """``(pid, camid)`` from a file name of the Market-1501 layout; camid is 0-based.

    Args:
        dataset: the dataset being read, so that an error quotes its own pattern (:data:`NAME_PATTERNS`).

    Raises:
        DatasetLayoutError: the name does not start with ``PPPP_cC``.
    """
    m = _NAME.match(name)
    if m is None:
        label, pattern = NAME_PATTERNS.get(dataset, NAME_PATTERNS["market1501"])
        raise DatasetLayoutError(
            f"{folder / name}: file name does not follow the {label} pattern '{pattern}' (identity, then "
            "camera); rename or remove it, or read the folder with the CSV manifest reader "
            "(lifelong_reid.data.read_manifest)")
    pid, cam = int(m.group(1)), int(m.group(2))
    if cam < 1:
        raise DatasetLayoutError(f"{folder / name}: camera index must start at c1, got c{cam}")
    return pid, cam - 1


def read_market1501(root: str | os.PathLike, name: str = "market1501") -> DomainData:
    """Read a dataset in the Market-1501 layout.

    Args:
        root: the folder holding ``bounding_box_train/``, ``query/`` and ``bounding_box_test/``.
        name: domain name used in results.

    Returns:
        :class:`DomainData` with train, query and gallery samples.

    Raises:
        DatasetLayoutError: ``root`` or one of the three folders is missing or empty, or a file name does
            not follow the pattern.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(
            f"{root}: dataset folder not found; expected the Market-1501 layout "
            "(bounding_box_train/, query/, bounding_box_test/). Check --data-root.")
    data = DomainData(name=name, root=str(root))
    for split, sub in SPLIT_FOLDERS.items():
        folder = root / sub
        if not folder.is_dir():
            raise DatasetLayoutError(
                f"{folder} is missing; expected the Market-1501 layout "
                "(bounding_box_train/, query/, bounding_box_test/) under {root}".replace("{root}", str(root)))
        names = list_images(folder)
        if not names:
            raise DatasetLayoutError(f"{folder} holds no images (.jpg/.png); is the download complete?")
        samples = []
        for fname in names:
            pid, camid = parse_market_name(fname, folder, name)
            if pid == JUNK_PID and split != "gallery":
                continue
            samples.append(Sample(path=str(folder / fname), pid=pid, camid=camid, domain=name))
        setattr(data, split, samples)
    return data
