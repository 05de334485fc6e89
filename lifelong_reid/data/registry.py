"""Known datasets by name: where each is found under a data root, how it is read, and its published
statistics (what ``lreid datasets check`` compares against).

``read_dataset("msmt17", data_root)`` finds the dataset's folder among its usual names and reads it.
Register more with :func:`register_dataset`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from lifelong_reid.data.cuhksysu import read_cuhksysu
from lifelong_reid.data.market1501 import read_market1501
from lifelong_reid.data.msmt17 import read_msmt17
from lifelong_reid.data.sample import JUNK_PID, DomainData
from lifelong_reid.data.multimodal import read_msvr310, read_rgbnt100, read_rgbnt201
from lifelong_reid.data.visible_infrared import read_llcm, read_regdb, read_sysu_mm01
from lifelong_reid.data.unseen import (read_cuhk01, read_cuhk02, read_grid, read_ilids, read_prid, read_sensereid,
                                       read_viper)
from lifelong_reid.errors import DatasetLayoutError


@dataclass(frozen=True)
class SplitStats:
    """Published size of one split: images (junk excluded) and identities (distractors count as one)."""

    images: int
    ids: int


@dataclass(frozen=True)
class DatasetSpec:
    """A known dataset.

    Attributes:
        name: the name users type (``"market1501"``).
        folders: folder names tried under the data root, in order (the public archives' names first).
        reader: ``(path, name) -> DomainData``.
        layout: one line describing the expected tree (shown when the folder is missing).
        published: ``{"train" | "query" | "gallery": SplitStats}`` from the dataset paper / torchreid, or
            empty when no figure is on record.
        source: where the published figures come from.
    """

    name: str
    folders: tuple[str, ...]
    reader: Callable[[Path, str], DomainData]
    layout: str
    published: dict = field(default_factory=dict)
    source: str = ""

    def find(self, data_root: str | os.PathLike) -> Optional[Path]:
        """The first of :attr:`folders` that exists under ``data_root``, or ``None``."""
        for f in self.folders:
            p = Path(data_root) / f
            if p.is_dir():
                return p
        return None


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset (plugins may add their own).

    Raises:
        ValueError: the name is taken.
    """
    if spec.name in _REGISTRY:
        raise ValueError(f"dataset {spec.name!r} is registered already")
    _REGISTRY[spec.name] = spec
    return spec


def dataset_names() -> tuple[str, ...]:
    """Names of the known datasets."""
    return tuple(_REGISTRY)


def get_dataset(name: str) -> DatasetSpec:
    """The spec called ``name``.

    Raises:
        DatasetLayoutError: unknown name (the message lists the known ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DatasetLayoutError(f"unknown dataset {name!r}; known: {', '.join(_REGISTRY)} (or read any folder "
                                 "with lifelong_reid.data.read_manifest)") from None


def read_dataset(name: str, data_root: str | os.PathLike, domain: Optional[str] = None) -> DomainData:
    """Find dataset ``name`` under ``data_root`` and read it (domain name ``domain`` or ``name``).

    Raises:
        DatasetLayoutError: unknown dataset, no folder found (the message lists the names tried and the
            expected tree), or the reader's own layout errors.
    """
    spec = get_dataset(name)
    path = spec.find(data_root)
    if path is None:
        raise DatasetLayoutError(f"{name}: not found under {data_root} (looked for {', '.join(spec.folders)}); "
                                 f"expected {spec.layout}")
    return spec.reader(path, domain or name)


def read_any(name: str, data_root: Optional[str | os.PathLike]) -> DomainData:
    """A registered dataset by name, else any folder or manifest readable by its layout
    (:func:`~lifelong_reid.data.read_domain`, relative to ``data_root`` or the working directory).

    Raises:
        DatasetLayoutError: as :func:`read_dataset` or :func:`~lifelong_reid.data.read_domain`.
    """
    from lifelong_reid.data.detect import read_domain

    return read_dataset(name, data_root) if name in _REGISTRY else read_domain(name, data_root)


def split_counts(data: DomainData) -> dict:
    """``{split: {"images", "junk", "ids", "cameras"}}`` as read (junk counted apart)."""
    out = {}
    for split in ("train", "query", "gallery"):
        samples = getattr(data, split)
        out[split] = {"images": sum(s.pid != JUNK_PID for s in samples),
                      "junk": sum(s.pid == JUNK_PID for s in samples),
                      "ids": len({s.pid for s in samples if s.pid != JUNK_PID}),
                      "cameras": len({s.camid for s in samples})}
    return out


def _market(layout_name: str) -> str:
    return f"{layout_name}: bounding_box_train/, query/, bounding_box_test/ with PPPP_cC*.jpg file names"


_MARKET_SRC = "Zheng et al. ICCV 2015; torchreid's counts (junk excluded, distractors as one identity)"
register_dataset(DatasetSpec(
    "market1501", ("Market-1501-v15.09.15", "Market-1501", "market1501"), read_market1501,
    _market("the Market-1501 layout"),
    {"train": SplitStats(12936, 751), "query": SplitStats(3368, 750), "gallery": SplitStats(15913, 751)}, _MARKET_SRC))
register_dataset(DatasetSpec(
    "dukemtmc-reid", ("DukeMTMC-reID", "dukemtmc-reid", "dukemtmcreid"), read_market1501,
    _market("the DukeMTMC-reID layout (0001_c2_f0046182.jpg)"),
    {"train": SplitStats(16522, 702), "query": SplitStats(2228, 702), "gallery": SplitStats(17661, 1110)},
    "Zheng et al. ICCV 2017 (DukeMTMC-reID); torchreid's counts"))
register_dataset(DatasetSpec(
    "msmt17", ("MSMT17_V2", "MSMT17_V1", "MSMT17", "msmt17"), read_msmt17,
    "MSMT17_V1 (train/, test/) or MSMT17_V2 (mask_train_v2/, mask_test_v2/) with list_train.txt, list_val.txt, "
    "list_query.txt, list_gallery.txt",
    {"train": SplitStats(32621, 1041), "query": SplitStats(11659, 3060), "gallery": SplitStats(82161, 3060)},
    "Wei et al. CVPR 2018; train = list_train + list_val as torchreid reads it"))
register_dataset(DatasetSpec(
    "cuhk03-np-detected", ("cuhk03-np/detected", "CUHK03-NP/detected", "cuhk03/detected"), read_market1501,
    _market("CUHK03-NP (Zhong et al. CVPR 2017 re-split): cuhk03-np/detected/"),
    {"train": SplitStats(7365, 767), "query": SplitStats(1400, 700), "gallery": SplitStats(5332, 700)},
    "Zhong et al. CVPR 2017 (the 767/700 new protocol)"))
register_dataset(DatasetSpec(
    "cuhk03-np-labeled", ("cuhk03-np/labeled", "CUHK03-NP/labeled", "cuhk03/labeled"), read_market1501,
    _market("CUHK03-NP: cuhk03-np/labeled/"),
    {"train": SplitStats(7368, 767), "query": SplitStats(1400, 700), "gallery": SplitStats(5328, 700)},
    "Zhong et al. CVPR 2017 (the 767/700 new protocol)"))
register_dataset(DatasetSpec(
    "cuhk-sysu", ("cuhksysu4reid", "CUHK-SYSU/cuhksysu4reid", "cuhk-sysu/CUHK-SYSU/cuhksysu4reid"), read_cuhksysu,
    "cuhksysu4reid/ with train/, query/, gallery/ crops named PID_sIMAGE_INDEX_HARD.jpg"))
register_dataset(DatasetSpec(
    "lpw", ("LPW_s2", "lpw/LPW_s2", "LPW/LPW_s2"), read_market1501,
    _market("LPW scene 2 exported in the Market-1501 layout (LPW_s2/), as VLADR reads it")))

# test-only (unseen) domains of lifelong ReID; sizes of the test split torchreid defines
register_dataset(DatasetSpec(
    "sensereid", ("sensereid", "SenseReID"), read_sensereid, "sensereid/SenseReID/test_probe/ and test_gallery/",
    {"query": SplitStats(1040, 522), "gallery": SplitStats(3388, 1717)}, "Zhao et al. CVPR 2017; torchreid"))
register_dataset(DatasetSpec(
    "prid", ("prid2011", "prid", "PRID2011"), read_prid,
    "prid2011/single_shot/cam_a/ and cam_b/ (person_0001.png ...)",
    {"query": SplitStats(100, 100), "gallery": SplitStats(649, 649)}, "Hirzer et al. SCIA 2011; torchreid's split"))
register_dataset(DatasetSpec(
    "viper", ("viper", "VIPeR"), read_viper, "viper/VIPeR/cam_a/ and cam_b/ (632 .bmp each)",
    {"query": SplitStats(316, 316), "gallery": SplitStats(316, 316)}, "Gray et al. PETS 2007; torchreid's split"))
register_dataset(DatasetSpec(
    "cuhk01", ("cuhk01", "CUHK01"), read_cuhk01, "cuhk01/campus/ (971 identities x 4 PPPPNNN.png)",
    {"query": SplitStats(972, 486), "gallery": SplitStats(972, 486)}, "Li et al. ACCV 2012; torchreid's split"))
register_dataset(DatasetSpec(
    "cuhk02", ("cuhk02", "CUHK02"), read_cuhk02, "cuhk02/Dataset/P1..P5/cam1/ and cam2/ (PID_N.png)"))
register_dataset(DatasetSpec(
    "grid", ("grid", "GRID", "underground_reid"), read_grid,
    "grid/underground_reid/probe/, gallery/ and features_and_partitions.mat",
    {"query": SplitStats(125, 125), "gallery": SplitStats(900, 126)}, "Loy et al. CVPR 2009; partition 0"))
register_dataset(DatasetSpec(
    "ilids", ("ilids", "QMUL-iLIDS", "i-LIDS"), read_ilids, "ilids/i-LIDS_Pedestrian/Persons/ (PPPPSSS.jpg)",
    {"query": SplitStats(60, 60), "gallery": SplitStats(60, 60)}, "Zheng et al. BMVC 2009; torchreid's split sizes"))

# visible-infrared
register_dataset(DatasetSpec(
    "sysu-mm01", ("SYSU-MM01", "sysu-mm01", "SYSU-MM01/ori_data"), read_sysu_mm01,
    "SYSU-MM01/cam1..cam6/PPPP/*.jpg with exp/train_id.txt, val_id.txt, test_id.txt",
    {"train": SplitStats(34167, 395), "query": SplitStats(3803, 96)}, "Wu et al. ICCV 2017 (train + val identities)"))
register_dataset(DatasetSpec(
    "regdb", ("RegDB", "regdb"), read_regdb,
    "RegDB/Visible/, Thermal/ and idx/train_visible_1.txt ... test_thermal_10.txt",
    {"train": SplitStats(4120, 206), "query": SplitStats(2060, 206), "gallery": SplitStats(2060, 206)},
    "Nguyen et al. Sensors 2017; split 1, visible -> thermal"))
register_dataset(DatasetSpec(
    "llcm", ("LLCM", "llcm"), read_llcm, "LLCM/idx/train_vis.txt, train_nir.txt, test_vis.txt, test_nir.txt"))

# multi-modal object ReID (RGB / NIR / TIR tuples)
register_dataset(DatasetSpec(
    "rgbnt201", ("RGBNT201", "rgbnt201"), read_rgbnt201, "RGBNT201/train_171/ and test/, each with RGB/, NI/, TI/",
    {"train": SplitStats(3280, 171), "query": SplitStats(836, 30)}, "Zheng et al. AAAI 2021 (tuples)"))
register_dataset(DatasetSpec(
    "rgbnt100", ("RGBNT100", "rgbnt100"), read_rgbnt100,
    "RGBNT100/rgbir/bounding_box_train/, query/, bounding_box_test/ (RGB|NIR|TIR side by side)"))
register_dataset(DatasetSpec(
    "msvr310", ("MSVR310", "msvr310"), read_msvr310,
    "MSVR310/bounding_box_train/, query3/, bounding_box_test/ with PID/vis/, ni/, th/"))
