"""Named lifelong ReID settings, as the public lifelong ReID code defines them.

Training order per setting (VLADR, CVPR 2026; DASK / LSTKC, AAAI 2024-25):

- ``lreid-setting1``: Market-1501 -> CUHK-SYSU -> LPW -> MSMT17 -> CUHK03 (VLADR's Setting 1);
- ``lreid-setting2``: LPW -> MSMT17 -> Market-1501 -> CUHK-SYSU -> CUHK03 (VLADR's Setting 2);
- ``dask-setting1`` / ``dask-setting2``: the same with DukeMTMC-reID in place of LPW.

Unseen (test-only) domains: CUHK01, CUHK02, GRID, SenseReID, VIPeR, i-LIDS, PRID, each on its standard
test split. Each training domain keeps 500 identities, selected by one of two rules:

- ``"official"`` (``lreid-setting1`` / ``lreid-setting2``): what the VLADR release's loader keeps
  (``lreid_dataset/datasets/get_data_loaders.py``, ``select_num=500``: training samples whose *relabelled* pid
  is below 500). Each dataset reader there relabels by enumerating a Python ``set`` of the original pids, filled
  in the order of the sorted image paths (``pid2label = {pid: label for label, pid in enumerate(pid_container)}``),
  so the 500 kept are the first 500 in CPython's set order (:func:`set_order`), not the 500 smallest: for
  Market-1501, MSMT17 (no relabelling: its list files' pids) and CUHK03 every pid is below the set's table size
  and the set order is ascending, but LPW's and CUHK-SYSU's pids wrap around it. CUHK-SYSU first keeps only
  identities with at least 4 training images (``IncrementalSamples4subcuhksysu.sub_set``, whose relabelling
  sorts the set-order labels, keeping that order), and CUHK03 is the labeled crops of the 767/700 split
  (``cuhk03_labeled=True``), read here from CUHK03-NP's ``labeled/`` folder.
- ``"smallest"`` (``lreid-setting1-smallest`` / ``lreid-setting2-smallest``, and the DASK settings): the 500
  smallest original pids of every dataset, CUHK03-NP detected crops, no image-count filter: the selection this
  library used before, kept by name for comparison.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Sequence

from lifelong_reid.data.sample import JUNK_PID, DomainData

UNSEEN = ("cuhk01", "cuhk02", "grid", "sensereid", "viper", "ilids", "prid")
IDS_PER_DOMAIN = 500


SELECTIONS = ("official", "smallest")

#: The official loader's minimum number of training images per identity, by dataset (CUHK-SYSU's ``sub_set``).
OFFICIAL_MIN_IMAGES = {"cuhk-sysu": 4}


@dataclass(frozen=True)
class LifelongSetting:
    """A named lifelong setting: dataset names in training order, the unseen test datasets, and how each
    training domain's identities are selected (:data:`SELECTIONS`, see the module docstring)."""

    name: str
    train: tuple[str, ...]
    unseen: tuple[str, ...] = UNSEEN
    ids_per_domain: int = IDS_PER_DOMAIN
    selection: str = "smallest"


SETTINGS = {s.name: s for s in (
    LifelongSetting("lreid-setting1", ("market1501", "cuhk-sysu", "lpw", "msmt17", "cuhk03-np-labeled"),
                    selection="official"),
    LifelongSetting("lreid-setting2", ("lpw", "msmt17", "market1501", "cuhk-sysu", "cuhk03-np-labeled"),
                    selection="official"),
    LifelongSetting("lreid-setting1-smallest", ("market1501", "cuhk-sysu", "lpw", "msmt17", "cuhk03-np-detected")),
    LifelongSetting("lreid-setting2-smallest", ("lpw", "msmt17", "market1501", "cuhk-sysu", "cuhk03-np-detected")),
    LifelongSetting("dask-setting1", ("market1501", "cuhk-sysu", "dukemtmc-reid", "msmt17", "cuhk03-np-detected")),
    LifelongSetting("dask-setting2", ("dukemtmc-reid", "msmt17", "market1501", "cuhk-sysu", "cuhk03-np-detected")),
)}


def get_setting(name: str) -> LifelongSetting:
    """The setting called ``name``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    try:
        return SETTINGS[name]
    except KeyError:
        raise KeyError(f"unknown stream {name!r}; known: {', '.join(SETTINGS)}") from None


def limit_identities(domain: DomainData, num_ids: int) -> DomainData:
    """A copy of ``domain`` whose training split keeps only its ``num_ids`` smallest pids (query and
    gallery unchanged)."""
    keep = set(sorted({s.pid for s in domain.train if s.pid != JUNK_PID})[:num_ids])
    return DomainData(name=domain.name, train=[s for s in domain.train if s.pid in keep], query=domain.query,
                      gallery=domain.gallery, root=domain.root, image_loader=domain.image_loader,
                      protocol=domain.protocol)


def set_order(pids) -> list[int]:
    """The pids in the order a CPython ``set`` filled with them one by one (in the given order) iterates them:
    the order in which the VLADR release's readers enumerate labels. For non-negative ints below the set's table
    size this is ascending; larger pids wrap around the table and break it."""
    container = set()
    for pid in pids:
        container.add(int(pid))
    return list(container)


def official_identities(domain: DomainData, num_ids: int, min_images: int = 1) -> DomainData:
    """A copy of ``domain`` whose training split keeps the identities the VLADR release's loader keeps: the first
    ``num_ids`` in :func:`set_order` of the training pids (filled in sorted image-path order, junk excluded)
    among those with at least ``min_images`` training images (query and gallery unchanged)."""
    train = sorted((s for s in domain.train if s.pid != JUNK_PID), key=lambda s: s.path)
    counts: dict[int, int] = {}
    for s in train:
        counts[s.pid] = counts.get(s.pid, 0) + 1
    ordered = [pid for pid in set_order(s.pid for s in train) if counts[pid] >= min_images]
    keep = set(ordered[:num_ids])
    return dataclasses.replace(domain, train=[s for s in domain.train if s.pid in keep])


def select_identities(domain: DomainData, dataset: str, num_ids: int, selection: str) -> DomainData:
    """``domain`` (read as registry dataset ``dataset``) with ``num_ids`` training identities kept by
    ``selection`` (:data:`SELECTIONS`).

    Raises:
        ValueError: an unknown selection.
    """
    if selection == "official":
        return official_identities(domain, num_ids, OFFICIAL_MIN_IMAGES.get(dataset, 1))
    if selection == "smallest":
        return limit_identities(domain, num_ids)
    raise ValueError(f"unknown identity selection {selection!r}; choose from {', '.join(SELECTIONS)}")


def setting_domains(name: str, data_root: str | os.PathLike) -> tuple[list[DomainData], list[DomainData]]:
    """``(training domains, unseen domains)`` of a named setting read from ``data_root`` (identity limit
    applied).

    Raises:
        DatasetLayoutError: a dataset is missing, malformed, or has no reader yet.
    """
    from lifelong_reid.data.registry import read_dataset

    setting = get_setting(name)
    train = [select_identities(read_dataset(d, data_root), d, setting.ids_per_domain, setting.selection)
             for d in setting.train]
    unseen = [read_dataset(d, data_root) for d in setting.unseen]
    return train, unseen


def named_lifelong_stream(name: str, data_root: str | os.PathLike, *, transforms=None):
    """The :func:`~lifelong_reid.streams.lifelong_stream` of a named setting."""
    from lifelong_reid.streams.lifelong import lifelong_stream

    train, unseen = setting_domains(name, data_root)
    return lifelong_stream(train, unseen, transforms=transforms, name=name)


def domains_of(name: str) -> Sequence[str]:
    """Every dataset name a setting needs (training order, then unseen)."""
    s = get_setting(name)
    return (*s.train, *s.unseen)
