"""Reader for CUHK-SYSU as lifelong ReID uses it: the ``cuhksysu4reid`` crops (Xiao et al., "Joint Detection
and Identification Feature Learning for Person Search", CVPR 2017; crops made by the LifelongReID / AKA
preparation script).

Expected tree::

    cuhksysu4reid/
      train/    00001_s1234_0000001_0.jpg ...   PID_sIMAGE_INDEX_HARD.jpg
      query/    ...
      gallery/  ...
      combine/  (optional; every crop, unused here)

CUHK-SYSU has no camera labels: every crop gets camid 0 and the domain uses the ``single_camera``
evaluation protocol (nothing is removed from a query's gallery), which is what lifelong ReID code achieves
by giving query and gallery different camera ids.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from lifelong_reid.data.market1501 import list_images
from lifelong_reid.data.sample import DomainData, Sample
from lifelong_reid.errors import DatasetLayoutError

_NAME = re.compile(r"^(\d+)_s(\d+)_(\d+)(?:_(\d+))?")  # the hard flag is absent in some exports
FOLDERS = {"train": "train", "query": "query", "gallery": "gallery"}


def read_cuhksysu(root: str | os.PathLike, name: str = "cuhk-sysu") -> DomainData:
    """Read the ``cuhksysu4reid`` folder.

    Raises:
        DatasetLayoutError: a missing or empty folder, or a file name outside ``PID_sIMAGE_INDEX_HARD.jpg``.
    """
    root = Path(root)
    data = DomainData(name=name, root=str(root), protocol="single_camera")
    for split, sub in FOLDERS.items():
        folder = root / sub
        if not folder.is_dir():
            raise DatasetLayoutError(f"{folder} is missing; expected cuhksysu4reid/ with train/, query/, gallery/")
        names = list_images(folder)
        if not names:
            raise DatasetLayoutError(f"{folder} holds no images")
        samples = []
        for fname in names:
            m = _NAME.match(fname)
            if m is None:
                raise DatasetLayoutError(f"{folder / fname}: file name does not follow the cuhksysu4reid pattern "
                                         "'PID_sIMAGE_INDEX_HARD.jpg' (e.g. 00001_s1234_0000001_0.jpg)")
            samples.append(Sample(path=str(folder / fname), pid=int(m.group(1)), camid=0, domain=name))
        setattr(data, split, samples)
    return data
