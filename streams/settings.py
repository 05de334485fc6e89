"""Named lifelong ReID settings, as the public lifelong ReID code defines them.

Training order per setting (VLADR, CVPR 2026; DASK / LSTKC, AAAI 2024-25):

- ``lreid-setting1``: Market-1501 -> CUHK-SYSU -> LPW -> MSMT17 -> CUHK03 (VLADR's Setting 1);
- ``lreid-setting2``: LPW -> MSMT17 -> Market-1501 -> CUHK-SYSU -> CUHK03 (VLADR's Setting 2);
- ``dask-setting1`` / ``dask-setting2``: the same with DukeMTMC-reID in place of LPW.

Unseen (test-only) domains: CUHK01, CUHK02, GRID, SenseReID, VIPeR, i-LIDS, PRID, each on its standard
test split. Each training domain keeps 500 identities: the 500 smallest original pids, which is what the
reference code's ``select_num=500`` keeps (it drops relabelled ids >= 500, relabelling in ascending pid
order); no randomness is involved.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from lifelong_reid.data.sample import JUNK_PID, DomainData

UNSEEN = ("cuhk01", "cuhk02", "grid", "sensereid", "viper", "ilids", "prid")
IDS_PER_DOMAIN = 500


@dataclass(frozen=True)
class LifelongSetting:
    """A named lifelong setting: dataset names in training order and the unseen test datasets."""

    name: str
    train: tuple[str, ...]
    unseen: tuple[str, ...] = UNSEEN
    ids_per_domain: int = IDS_PER_DOMAIN


SETTINGS = {s.name: s for s in (
    LifelongSetting("lreid-setting1", ("market1501", "cuhk-sysu", "lpw", "msmt17", "cuhk03-np-detected")),
    LifelongSetting("lreid-setting2", ("lpw", "msmt17", "market1501", "cuhk-sysu", "cuhk03-np-detected")),
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


def setting_domains(name: str, data_root: str | os.PathLike) -> tuple[list[DomainData], list[DomainData]]:
    """``(training domains, unseen domains)`` of a named setting read from ``data_root`` (identity limit
    applied).

    Raises:
        DatasetLayoutError: a dataset is missing, malformed, or has no reader yet.
    """
    from lifelong_reid.data.registry import read_dataset

    setting = get_setting(name)
    train = [limit_identities(read_dataset(d, data_root), setting.ids_per_domain) for d in setting.train]
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
