"""``lreid datasets check``: what is under a data root, against what the known datasets should hold."""
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
    """One line of the check.

    Attributes:
        name: dataset (or folder) name. status: ``"found"``, ``"missing"``, ``"malformed"`` or ``"readable"``
            (an unregistered folder in a layout the generic readers understand).
        path: where it was found. counts: :func:`~lifelong_reid.data.registry.split_counts`.
        mismatches: ``"split: N images (published M)"`` lines. message: why missing / malformed.
    """

    name: str
    status: str
    path: Optional[Path] = None
    counts: dict = field(default_factory=dict)
    mismatches: list = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("found", "readable")


def check_spec(spec: DatasetSpec, data_root: str | os.PathLike) -> DatasetStatus:
    """Find and read one known dataset, and compare its counts with the published ones."""
    path = spec.find(data_root)
    if path is None:
        return DatasetStatus(spec.name, "missing", message=f"looked for {', '.join(spec.folders)}; expected "
                                                           f"{spec.layout}")
    try:
        counts = split_counts(spec.reader(path, spec.name))
    except LReIDError as e:
        return DatasetStatus(spec.name, "malformed", path, message=str(e))
    mismatches = []
    for split, stats in spec.published.items():
        got = counts[split]
        if (got["images"], got["ids"]) != (stats.images, stats.ids):
            mismatches.append(f"{split}: {got['images']} images / {got['ids']} ids (published {stats.images} / "
                              f"{stats.ids})")
    return DatasetStatus(spec.name, "found", path, counts, mismatches)


def check_root(data_root: str | os.PathLike) -> list[DatasetStatus]:
    """Every known dataset, then every other folder under ``data_root`` that reads as a Market-1501 layout
    or a manifest (sub-folders of known datasets excluded).

    Raises:
        LReIDError: ``data_root`` is not a folder.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise LReIDError(f"{root}: no such data folder")
    results = [check_spec(get_dataset(n), root) for n in dataset_names()]
    claimed = {r.path.resolve() for r in results if r.path is not None}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if any(sub.resolve() == c or sub.resolve() in c.parents for c in claimed):
            continue
        try:
            data = read_domain(sub)
        except LReIDError:
            continue
        results.append(DatasetStatus(sub.name, "readable", sub, split_counts(data)))
    return results


def format_status(r: DatasetStatus) -> list[str]:
    """Human-readable lines for one :class:`DatasetStatus`."""
    if r.status == "missing":
        return [f"missing    {r.name}: {r.message}"]
    if r.status == "malformed":
        return [f"malformed  {r.name} at {r.path}: {r.message}"]
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
    return lines


def check_stream(name: str, data_root: str | os.PathLike) -> tuple[bool, list[str]]:
    """Whether every domain of the named stream (a lifelong setting, a DG protocol ``dg:A->B`` /
    ``dg-loo:B``, or a static ``supervised:NAME`` / ``unsupervised:NAME``) is readable under ``data_root``, and
    the report lines.

    Raises:
        LReIDError: unknown stream name or no such data folder.
    """
    from lifelong_reid.streams.settings import get_setting

    if name.startswith(("dg:", "dg-loo:")):
        from lifelong_reid.streams.generalization import dg_protocol

        train, unseen = dg_protocol(name)
    elif name.startswith(("supervised:", "unsupervised:")):
        train, unseen = [name.split(":", 1)[1]], []
    else:
        try:
            setting = get_setting(name)
        except KeyError as e:
            raise LReIDError(str(e.args[0])) from None
        train, unseen = list(setting.train), list(setting.unseen)
    if not Path(data_root).is_dir():
        raise LReIDError(f"{data_root}: no such data folder")
    ready = True
    lines = [f"stream {name}: train {' -> '.join(train)}; unseen {', '.join(unseen)}"]
    for dataset in (*train, *unseen):
        if dataset not in dataset_names():
            lines.append(f"no reader {dataset}: this version cannot read it yet")
            ready = False
            continue
        status = check_spec(get_dataset(dataset), data_root)
        ready &= status.ok
        lines += format_status(status)
    lines.append(f"stream {name}: {'ready' if ready else 'NOT ready'}")
    return ready, lines


def require_stream(name: str, data_root) -> None:
    """Stop before training when a named stream cannot run.

    Raises:
        DatasetLayoutError: with the ``lreid datasets check --stream`` report as the message.
    """
    from lifelong_reid.errors import DatasetLayoutError

    if data_root is None:
        raise DatasetLayoutError(f"stream {name} reads real datasets: pass --data-root (or --synthetic)")
    ready, lines = check_stream(name, data_root)
    if not ready:
        raise DatasetLayoutError("the datasets of this stream are not ready:\n" + "\n".join(lines))
