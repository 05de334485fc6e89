"""``lreid datasets check``: what is under a data root, against what the known datasets should hold.

Every folder looked at is reported with one status:

- ``found``: a registered dataset, read, every image decoded (counts compared with the published ones);
- ``readable``: a folder that is not a registered dataset but reads by its layout (Market-1501 folders,
  ``manifest.csv``), every image decoded;
- ``malformed``: the dataset's reader refused it (which file, why, against that dataset's own file-name
  pattern), or an image does not decode (which file, why, and how many more);
- ``missing``: a registered dataset with no folder under the root (where it looked);
- ``skipped``: a sub-folder with no dataset layout at all (no ``query/``, ``bounding_box_test/`` or
  ``manifest.csv``), e.g. side files; it is listed so that nothing is left out silently.

The command exits with 1 when something is malformed (or, with ``--stream``, when the stream cannot run).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from lifelong_reid.data.detect import read_domain
from lifelong_reid.data.registry import DatasetSpec, dataset_names, get_dataset, split_counts
from lifelong_reid.errors import LReIDError


@dataclass
class DatasetStatus:
    """One entry of the check.

    Attributes:
        name: dataset (or folder) name. status: ``"found"``, ``"readable"``, ``"malformed"``, ``"missing"`` or
            ``"skipped"`` (see the module docstring).
        path: where it was found. counts: :func:`~lifelong_reid.data.registry.split_counts`.
        mismatches: ``"split: N images (published M)"`` lines. message: why missing / malformed / skipped.
        image_note: the image decode summary (counted warnings such as grayscale images).
    """

    name: str
    status: str
    path: Optional[Path] = None
    counts: dict = field(default_factory=dict)
    mismatches: list = field(default_factory=list)
    message: str = ""
    image_note: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("found", "readable", "skipped")


def _decode_status(status: DatasetStatus, data, decode: bool, progress) -> DatasetStatus:
    """Turn ``status`` malformed when an image of ``data`` does not decode (with ``decode``)."""
    if not decode or data.image_loader is not None:
        return status
    from lifelong_reid.data.image_check import verify_images

    report = verify_images(data.image_paths(), progress=progress)
    if report.errors:
        status.status, status.message = "malformed", report.first_error()
    elif report.warnings:
        status.image_note = report.summary()
    return status


def check_spec(spec: DatasetSpec, data_root: str | os.PathLike, decode: bool = True,
               progress: Optional[bool] = None) -> DatasetStatus:
    """Find and read one known dataset, decode its images (with ``decode``), and compare its counts with the
    published ones."""
    path = spec.find(data_root)
    if path is None:
        return DatasetStatus(spec.name, "missing", message=f"looked for {', '.join(spec.folders)}; expected "
                                                           f"{spec.layout}")
    try:
        data = spec.reader(path, spec.name)
    except LReIDError as e:
        return DatasetStatus(spec.name, "malformed", path, message=str(e))
    counts = split_counts(data)
    mismatches = []
    for split, stats in spec.published.items():
        got = counts[split]
        if (got["images"], got["ids"]) != (stats.images, stats.ids):
            mismatches.append(f"{split}: {got['images']} images / {got['ids']} ids (published {stats.images} / "
                              f"{stats.ids})")
    return _decode_status(DatasetStatus(spec.name, "found", path, counts, mismatches), data, decode, progress)


def has_layout(folder: Path) -> bool:
    """Whether ``folder`` looks like a dataset the generic readers read (Market-1501 folders or a manifest)."""
    return any((folder / m).exists() for m in ("query", "bounding_box_test", "bounding_box_train", "manifest.csv"))


def check_folder(folder: str | os.PathLike, data_root: Optional[str | os.PathLike] = None, decode: bool = True,
                 progress: Optional[bool] = None) -> DatasetStatus:
    """Read an unregistered folder or manifest by its layout (:func:`~lifelong_reid.data.read_domain`) and
    decode its images."""
    from lifelong_reid.data.detect import resolve_path

    name = Path(folder).name
    if not resolve_path(folder, data_root).exists():
        return DatasetStatus(name, "missing", message=f"no such folder or manifest under {data_root} (nor in the "
                                                      "working directory), and not a registered dataset name")
    try:
        data = read_domain(folder, data_root)
    except LReIDError as e:
        return DatasetStatus(name, "malformed", Path(folder), message=str(e))
    return _decode_status(DatasetStatus(data.name, "readable", Path(data.root or folder), split_counts(data)), data,
                          decode, progress)


def check_root(data_root: str | os.PathLike, decode: bool = True, progress: Optional[bool] = None
               ) -> list[DatasetStatus]:
    """Every known dataset, then every other sub-folder of ``data_root`` (sub-folders of known datasets
    excluded): read by its layout, or ``skipped`` when it has none.

    Raises:
        LReIDError: ``data_root`` is not a folder.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise LReIDError(f"{root}: no such data folder")
    results = [check_spec(get_dataset(n), root, decode, progress) for n in dataset_names()]
    claimed = {r.path.resolve() for r in results if r.path is not None}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if any(sub.resolve() == c or sub.resolve() in c.parents or c in sub.resolve().parents for c in claimed):
            continue
        if not has_layout(sub):
            results.append(DatasetStatus(sub.name, "skipped", sub, message="no dataset layout (no query/, "
                                         "bounding_box_test/, bounding_box_train/ or manifest.csv)"))
            continue
        results.append(check_folder(sub, decode=decode, progress=progress))
    return results


def format_status(r: DatasetStatus) -> list[str]:
    """Human-readable lines for one :class:`DatasetStatus`."""
    if r.status == "missing":
        return [f"missing    {r.name}: {r.message}"]
    if r.status == "malformed":
        return [f"malformed  {r.name} at {r.path}: {r.message}"]
    if r.status == "skipped":
        return [f"skipped    {r.name} at {r.path}: {r.message}"]
    c = r.counts
    parts = []
    for split in ("train", "query", "gallery"):
        junk = f" + {c[split]['junk']} junk" if c[split]["junk"] else ""
        parts.append(f"{split} {c[split]['images']}{junk} images / {c[split]['ids']} ids")
    cams = max(c[s]["cameras"] for s in c)
    label = "found     " if r.status == "found" else "readable  "
    lines = [f"{label} {r.name} at {r.path}: " + ", ".join(parts) + f", {cams} cameras"]
    if r.status == "found":
        lines += [f"           differs from the published size: {m}" for m in r.mismatches] or \
                 (["           matches the published size"] if get_dataset(r.name).published else [])
    else:
        lines.append("           (not a registered dataset; readable by its layout)")
    if r.image_note:
        lines.append(f"           images: {r.image_note}")
    return lines


def check_stream(name: str, data_root: str | os.PathLike, decode: bool = True,
                 progress: Optional[bool] = None) -> tuple[bool, list[str]]:
    """Whether every domain of the stream ``name`` (any name :func:`~lifelong_reid.streams.build_stream`
    takes) is readable under ``data_root``, and the report lines.

    Raises:
        LReIDError: unknown stream name or no such data folder.
    """
    from lifelong_reid.streams.named import stream_datasets

    train, unseen = stream_datasets(name)
    if not train and not unseen:
        return True, [f"stream {name}: synthetic, needs no data", f"stream {name}: ready"]
    if not Path(data_root).is_dir():
        raise LReIDError(f"{data_root}: no such data folder")
    ready = True
    lines = [f"stream {name}: train {' -> '.join(train)}" + (f"; unseen {', '.join(unseen)}" if unseen else "")]
    for dataset in dict.fromkeys((*train, *unseen)):
        if dataset in dataset_names():
            status = check_spec(get_dataset(dataset), data_root, decode, progress)
        else:
            status = check_folder(dataset, data_root, decode, progress)
        ready &= status.ok
        lines += format_status(status)
    if ready:
        lines += selection_lines(name, data_root)
    lines.append(f"stream {name}: {'ready' if ready else 'NOT ready'}")
    return ready, lines


def selection_lines(name: str, data_root: str | os.PathLike) -> list[str]:
    """For a named lifelong setting, the training identities and images each domain keeps under the setting's
    selection (:mod:`streams.settings`); nothing for other streams."""
    from lifelong_reid.streams.settings import SETTINGS, setting_domains

    setting = SETTINGS.get(name)
    if setting is None:
        return []
    train, _ = setting_domains(name, data_root)
    lines = [f"training identities kept ({setting.selection} selection, {setting.ids_per_domain} per domain):"]
    for d in train:
        ids = len({s.pid for s in d.train})
        lines.append(f"  {d.name}: {ids} ids / {len(d.train)} images")
    return lines


def require_stream(name: str, data_root) -> None:
    """Stop before training when a named stream cannot run (layouts only: the run decodes every image
    before its first experience).

    Raises:
        DatasetLayoutError: with the ``lreid datasets check --stream`` report as the message.
    """
    from lifelong_reid.errors import DatasetLayoutError

    if data_root is None:
        raise DatasetLayoutError(f"stream {name} reads real datasets: pass --data-root (or --synthetic)")
    ready, lines = check_stream(name, data_root, decode=False)
    if not ready:
        raise DatasetLayoutError("the datasets of this stream are not ready:\n" + "\n".join(lines))
