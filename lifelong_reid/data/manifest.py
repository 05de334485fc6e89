"""The generic reader: a folder of images plus a CSV manifest.

Manifest format (header required, extra columns ignored)::

    path,pid,camid[,split][,modality]
    images/0000_00.jpg,0,0,train

- ``path``: relative to the manifest's folder (or absolute);
- ``pid``, ``camid``: integers (camid 0-based);
- ``split``: ``train``, ``query`` or ``gallery``; when the column is absent every row is ``train``;
- ``modality``: ``rgb`` (default), ``ir``, ``nir`` or ``tir``.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from lifelong_reid.data.sample import MODALITIES, DomainData, Sample
from lifelong_reid.errors import DatasetLayoutError, ManifestError

REQUIRED_COLUMNS = ("path", "pid", "camid")
SPLITS = ("train", "query", "gallery")


def read_manifest(root: str | os.PathLike, manifest: str = "manifest.csv", name: str | None = None,
                  check_files: bool = True) -> DomainData:
    """Read a folder of images described by a CSV manifest.

    Args:
        root: dataset folder; ``root/manifest`` is the CSV file.
        manifest: CSV file name (or path relative to ``root``).
        name: domain name (default: the folder name).
        check_files: verify that every listed image exists (one ``stat`` per row).

    Raises:
        DatasetLayoutError: the folder or manifest is missing, or a listed image does not exist.
        ManifestError: a required column is missing, or a row holds a bad value (names file and line).
    """
    root = Path(root)
    csv_path = root / manifest
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: dataset folder not found; check --data-root")
    if not csv_path.is_file():
        raise DatasetLayoutError(
            f"{csv_path} is missing; the manifest reader expects a CSV with columns "
            "path,pid,camid[,split][,modality] next to the images")
    name = name or root.name
    data = DomainData(name=name, root=str(root))
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ManifestError(
                f"{csv_path}: missing column(s) {', '.join(missing)}; the header must contain "
                f"path,pid,camid (found: {','.join(header) or 'nothing'})")
        reader.fieldnames = header
        for lineno, row in enumerate(reader, start=2):
            sample, split = _parse_row(row, lineno, csv_path, root, name, check_files)
            getattr(data, split).append(sample)
    if not (data.train or data.query or data.gallery):
        raise ManifestError(f"{csv_path}: no rows; add one line per image")
    return data


def _parse_row(row: dict, lineno: int, csv_path: Path, root: Path, name: str, check_files: bool):
    where = f"{csv_path}:{lineno}"
    try:
        pid, camid = int(row["pid"]), int(row["camid"])
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: pid and camid must be integers, got pid={row.get('pid')!r} "
                            f"camid={row.get('camid')!r}") from None
    split = (row.get("split") or "train").strip()
    if split not in SPLITS:
        raise ManifestError(f"{where}: split must be one of {', '.join(SPLITS)}, got {split!r}")
    modality = (row.get("modality") or "rgb").strip()
    if modality not in MODALITIES:
        raise ManifestError(f"{where}: modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
    rel = (row.get("path") or "").strip()
    if not rel:
        raise ManifestError(f"{where}: empty path")
    path = Path(rel) if os.path.isabs(rel) else root / rel
    if not os.path.isabs(rel) and not os.path.normpath(path).startswith(os.path.normpath(root) + os.sep):
        raise ManifestError(f"{where}: path {rel!r} leaves the dataset folder {root}; give a path inside it, or an "
                            "absolute path")
    if check_files and not path.is_file():
        raise DatasetLayoutError(f"{where}: image {path} does not exist; fix the path column or the folder")
    return Sample(path=str(path), pid=pid, camid=camid, domain=name, modality=modality), split
