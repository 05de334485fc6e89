"""Streams by the names users type (``lreid datasets check --stream NAME``, experiment files).

- ``lreid-setting1``, ``lreid-setting2``, ``dask-setting1``, ``dask-setting2``: the lifelong settings of
  :mod:`~lifelong_reid.streams.settings`, read from the data root;
- ``lifelong:A,B,C[+U1,U2]``: any order of readable datasets (registry names, or folders / manifests under
  the data root such as ``market1501-mini``), then ``+`` unseen ones;
- ``supervised:NAME``: one dataset as one experience with its own query / gallery;
- ``dg:A->B`` and ``dg-loo:B``: MUVA's single-source and leave-one-out domain generalization protocols
  (:mod:`~lifelong_reid.streams.generalization`);
- ``unsupervised:NAME``: a visible-infrared dataset (sysu-mm01, regdb, llcm) with its training identities
  hidden (targets ``-1``; a pseudo-label plugin fills them);
- ``synthetic-vi``, ``synthetic-vi-unsupervised``, ``synthetic-dg``, ``synthetic-multimodal``: offline
  stand-ins for the VI, DG and multi-modal settings (``supervised:rgbnt201`` etc. are the real ones);
- ``synthetic-setting1``: the offline stand-in for Setting 1: five synthetic training domains and three
  synthetic unseen domains (seeded; no data needed).
"""
from __future__ import annotations

import os
from typing import Optional

from lifelong_reid.errors import ConfigError
from lifelong_reid.streams.benchmark import ReIDBenchmark
from lifelong_reid.streams.settings import IDS_PER_DOMAIN, SETTINGS, limit_identities, named_lifelong_stream


def stream_names() -> list[str]:
    """The fixed names (patterns ``lifelong:...`` and ``supervised:...`` come on top)."""
    return [*SETTINGS, "synthetic-setting1", "synthetic-vi", "synthetic-vi-unsupervised", "synthetic-dg",
            "synthetic-multimodal"]


def build_stream(name: str, data_root: Optional[str | os.PathLike] = None, *, transforms: Optional[tuple] = None,
                 ids_per_domain: Optional[int] = None, seed: int = 0, modalities=None, check: bool = False,
                 **synthetic) -> ReIDBenchmark:
    """Build the stream called ``name`` (see the module docstring).

    Args:
        data_root: folder holding the datasets (not needed for synthetic streams).
        ids_per_domain: training identities kept per domain in ``lifelong:`` streams (default: all).
        seed, synthetic: for ``synthetic-setting1``: seed and :class:`~lifelong_reid.synthetic.SyntheticDomain`
            sizes (``num_train_ids``, ``num_test_ids``, ``num_cameras``, ``images_per_camera``).
        check: check every dataset of a real stream first (:func:`~lifelong_reid.data.check.require_stream`).
        modalities: for multi-modal streams (``synthetic-multimodal``, ``supervised:rgbnt201`` /
            ``rgbnt100`` / ``msvr310``): the modalities the tuples keep, e.g. ``"RT"`` or ``["rgb", "tir"]``
            (:func:`~lifelong_reid.data.modality_subset.parse_modalities`); default all three.

    Raises:
        ConfigError: unknown name, a real stream without ``data_root``, or ``modalities`` for a stream
            without tuples.
        DatasetLayoutError: a dataset is missing or malformed; with ``check``, before anything is read, with the
            whole ``lreid datasets check DATA --stream NAME`` report as the message (what experiment files use
            to stop before training).
    """
    if modalities is not None and name != "synthetic-multimodal" and not name.startswith("supervised:"):
        raise ConfigError(f"modalities= selects the modalities of multi-modal tuples; stream {name!r} has none "
                          "(use synthetic-multimodal or supervised:rgbnt201 / rgbnt100 / msvr310)")
    if name == "synthetic-setting1":
        from lifelong_reid.streams.synthetic import synthetic_lifelong_stream

        return synthetic_lifelong_stream(5, 3, seed=seed, transforms=transforms, name=name, **synthetic)
    if name in ("synthetic-vi", "synthetic-vi-unsupervised"):
        from lifelong_reid.streams.synthetic import synthetic_vi_stream

        return synthetic_vi_stream(seed=seed, unsupervised=name.endswith("unsupervised"), transforms=transforms,
                                   **synthetic)
    if name == "synthetic-multimodal":
        from lifelong_reid.streams.synthetic import synthetic_multimodal_stream

        return synthetic_multimodal_stream(seed=seed, transforms=transforms, modalities=modalities, **synthetic)
    if name == "synthetic-dg":
        from lifelong_reid.streams.synthetic import synthetic_dg_stream

        return synthetic_dg_stream(seed=seed, transforms=transforms, **synthetic)
    if check:
        from lifelong_reid.data.check import require_stream

        require_stream(name, data_root)
    if data_root is None:
        raise ConfigError(f"stream {name!r} reads real datasets: pass --data-root (or use synthetic-setting1)")
    from lifelong_reid.data.registry import read_dataset

    if name in SETTINGS:
        return named_lifelong_stream(name, data_root, transforms=transforms)
    if name.startswith("dg:"):
        from lifelong_reid.streams.generalization import single_source_stream

        source, sep, target = name[3:].partition("->")
        if not sep:
            raise ConfigError(f"{name!r}: write single-source DG as dg:SOURCE->TARGET, e.g. dg:MA->D")
        return single_source_stream(source, target, data_root, transforms=transforms)
    if name.startswith("dg-loo:"):
        from lifelong_reid.streams.generalization import leave_one_out_stream

        return leave_one_out_stream(name[7:], data_root, transforms=transforms)
    if name.startswith("unsupervised:"):
        from lifelong_reid.streams.benchmark import build_benchmark

        dataset = name.split(":", 1)[1]
        if dataset not in ("sysu-mm01", "regdb", "llcm"):
            raise ConfigError(f"{name!r}: unsupervised streams are for sysu-mm01, regdb and llcm")
        d = read_dataset(dataset, data_root)
        return build_benchmark(name, [d], [d], unseen=[], transforms=transforms, hide_identities=True)
    if name.startswith("supervised:"):
        from lifelong_reid.streams.static import static_stream

        domain = read_dataset(name.split(":", 1)[1], data_root)
        if modalities is not None:
            from lifelong_reid.data.modality_subset import select_modalities

            domain = select_modalities(domain, modalities)
        return static_stream(domain, transforms=transforms, name=name)
    if name.startswith("lifelong:"):
        from lifelong_reid.data.registry import read_any
        from lifelong_reid.streams.lifelong import lifelong_stream

        train_names, unseen_names = _lifelong_names(name)
        train = [read_any(d, data_root) for d in train_names]
        if ids_per_domain:
            train = [limit_identities(d, ids_per_domain) for d in train]
        unseen = [read_any(d, data_root) for d in unseen_names]
        return lifelong_stream(train, unseen, transforms=transforms, name=name)
    raise _unknown(name)


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown stream {name!r}; known: {', '.join(stream_names())}, lifelong:A,B[+U], "
                       "supervised:NAME, unsupervised:NAME, dg:A->B, dg-loo:B")


def _lifelong_names(name: str) -> tuple[list[str], list[str]]:
    train_part, _, unseen_part = name.split(":", 1)[1].partition("+")
    train = [d.strip() for d in train_part.split(",") if d.strip()]
    if not train:
        raise ConfigError(f"{name!r}: name at least one training dataset, e.g. lifelong:market1501,msmt17+viper")
    return train, [d.strip() for d in unseen_part.split(",") if d.strip()]


def stream_datasets(name: str) -> tuple[list[str], list[str]]:
    """``(training datasets, unseen datasets)`` the stream ``name`` reads: registry names, or folders /
    manifests under the data root; ``([], [])`` for a synthetic stream. Takes every name :func:`build_stream`
    takes.

    Raises:
        ConfigError: unknown name or malformed pattern.
    """
    if name in stream_names() and name.startswith("synthetic"):
        return [], []
    if name in SETTINGS:
        return list(SETTINGS[name].train), list(SETTINGS[name].unseen)
    if name.startswith(("dg:", "dg-loo:")):
        from lifelong_reid.streams.generalization import dg_protocol

        return dg_protocol(name)
    if name.startswith(("supervised:", "unsupervised:")):
        dataset = name.split(":", 1)[1].strip()
        if not dataset:
            raise ConfigError(f"{name!r}: name the dataset, e.g. supervised:market1501")
        return [dataset], []
    if name.startswith("lifelong:"):
        return _lifelong_names(name)
    raise _unknown(name)


__all__ = ["build_stream", "stream_datasets", "stream_names", "IDS_PER_DOMAIN"]
