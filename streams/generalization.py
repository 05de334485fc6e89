"""Domain generalization streams, MUVA's protocols (``../shared/papers/MUVA_multi-grained_DG-ReID.txt``,
Sec. 4.1) over Market-1501 (MA), DukeMTMC-reID (D), MSMT17 (MS) and CUHK03-NP (C3, the detected crops):

- single-source ``dg:A->B``: train on A's training set, evaluate on B's test set (unseen) and on A's own
  (seen, the "source domain" table);
- multi-source leave-one-out ``dg-loo:B``: train on the mixture of the other three training sets (one
  experience; labels stay distinct per source because they are keyed by (dataset, pid)), evaluate on B.

Names accept the registry names or the paper's abbreviations (``dg:MA->D``, ``dg-loo:C3``); ``dg:A->B`` also
takes any folder or manifest readable by its layout under the data root (``dg:market1501-mini->cuhk03-mini``),
as ``lifelong:`` does.
"""
from __future__ import annotations

import os
from typing import Optional

from lifelong_reid.data.image_io import open_rgb
from lifelong_reid.data.sample import DomainData
from lifelong_reid.errors import ConfigError
from lifelong_reid.streams.benchmark import ReIDBenchmark, build_benchmark

ABBREVIATIONS = {"MA": "market1501", "D": "dukemtmc-reid", "MS": "msmt17", "C3": "cuhk03-np-detected"}
DG_DATASETS = tuple(ABBREVIATIONS.values())


def _dataset(name: str, folders: bool = False) -> str:
    """The registry name of a DG dataset or abbreviation; with ``folders``, any other name is kept as a folder
    (or manifest) to read by its layout."""
    full = ABBREVIATIONS.get(name.strip(), name.strip())
    if full not in DG_DATASETS and not (folders and full):
        raise ConfigError(f"DG datasets are {', '.join(f'{k} ({v})' for k, v in ABBREVIATIONS.items())}; got {name!r}")
    return full


def dg_protocol(name: str) -> tuple[list[str], list[str]]:
    """``(sources, targets)`` registry names of a ``dg:A->B`` or ``dg-loo:B`` stream name.

    Raises:
        ConfigError: not a DG name, or an unknown dataset (the message lists the abbreviations).
    """
    if name.startswith("dg:"):
        source, sep, target = name[3:].partition("->")
        if not sep:
            raise ConfigError(f"{name!r}: write single-source DG as dg:SOURCE->TARGET, e.g. dg:MA->D")
        return [_dataset(source, folders=True)], [_dataset(target, folders=True)]
    if name.startswith("dg-loo:"):
        target = _dataset(name[7:])
        return [d for d in DG_DATASETS if d != target], [target]
    raise ConfigError(f"{name!r} is not a DG protocol (dg:A->B or dg-loo:B)")


class DomainLoader:
    """Image loader of a merged domain: each sample is loaded by its own source domain's loader (or from
    its path). Picklable, for DataLoader workers."""

    def __init__(self, loaders: dict):
        self.loaders = loaders

    def __call__(self, sample):
        loader = self.loaders.get(sample.domain)
        return loader(sample) if loader is not None else open_rgb(sample.path)


def merge_domains(domains: list[DomainData], name: str) -> DomainData:
    """One training domain holding every training sample of ``domains`` (samples keep their own
    ``domain`` field, so identities of different sources never merge)."""
    loaders = {d.name: d.image_loader for d in domains}
    return DomainData(name=name, train=[s for d in domains for s in d.train], root=None,
                      image_loader=DomainLoader(loaders) if any(loaders.values()) else None)


def single_source_stream(source: str, target: str, data_root: str | os.PathLike, *,
                         transforms: Optional[tuple] = None) -> ReIDBenchmark:
    """``dg:source->target`` (see the module docstring)."""
    from lifelong_reid.data.registry import read_any

    source, target = _dataset(source, folders=True), _dataset(target, folders=True)
    if source == target:
        raise ConfigError(f"single-source DG needs two different datasets, got {source} twice")
    src, tgt = read_any(source, data_root), read_any(target, data_root)
    return build_benchmark(f"dg:{source}->{target}", [src], [src, tgt], unseen=[tgt.name], transforms=transforms)


def leave_one_out_stream(target: str, data_root: str | os.PathLike, *,
                         transforms: Optional[tuple] = None) -> ReIDBenchmark:
    """``dg-loo:target`` (see the module docstring)."""
    from lifelong_reid.data.registry import read_dataset

    target = _dataset(target)
    sources = [read_dataset(d, data_root) for d in DG_DATASETS if d != target]
    tgt = read_dataset(target, data_root)
    merged = merge_domains(sources, "+".join(d.name for d in sources))
    return build_benchmark(f"dg-loo:{target}", [merged], [tgt], unseen=[tgt.name], transforms=transforms)
