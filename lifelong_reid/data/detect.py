"""Read a dataset folder whose layout is recognised from its files (for ``lreid eval``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from lifelong_reid.data.manifest import read_manifest
from lifelong_reid.data.market1501 import read_market1501
from lifelong_reid.data.sample import DomainData
from lifelong_reid.errors import DatasetLayoutError


def resolve_path(spec: str | os.PathLike, data_root: Optional[str | os.PathLike] = None) -> Path:
    """``spec`` under ``data_root`` when it exists there, else ``spec`` as given."""
    path = Path(spec)
    if not path.is_absolute() and data_root is not None and (Path(data_root) / path).exists():
        return Path(data_root) / path
    return path


def read_domain(spec: str | os.PathLike, data_root: Optional[str | os.PathLike] = None,
                name: Optional[str] = None) -> DomainData:
    """Read ``spec`` (a folder or a CSV manifest, relative to ``data_root`` or the working directory).

    Recognised layouts: a Market-1501 folder (``bounding_box_test/`` + ``query/``, read by
    :func:`~lifelong_reid.data.read_market1501`), a folder holding ``manifest.csv``, or a ``.csv`` manifest
    (:func:`~lifelong_reid.data.read_manifest`).

    Raises:
        DatasetLayoutError: the path does not exist or matches no known layout (the message lists them).
    """
    path = resolve_path(spec, data_root)
    name = name or (path.stem if path.suffix == ".csv" else path.name)
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_manifest(path.parent, manifest=path.name, name=name)
    if not path.is_dir():
        where = f" (looked in {data_root} and the working directory)" if data_root else ""
        raise DatasetLayoutError(f"{spec}: no such dataset folder or manifest{where}")
    if (path / "bounding_box_test").is_dir() or (path / "query").is_dir():
        return read_market1501(path, name=name)
    if (path / "manifest.csv").is_file():
        return read_manifest(path, name=name)
    raise DatasetLayoutError(f"{path}: unknown dataset layout; expected a Market-1501 folder "
                             "(bounding_box_train/, query/, bounding_box_test/), a folder with manifest.csv, or a "
                             ".csv manifest file")
