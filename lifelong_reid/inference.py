"""Use a saved model: evaluate it on any readable dataset (``lreid eval``) or search a folder of gallery
images with a folder of query images (``lreid search``).

Shapes: ``N`` images, ``F`` retrieval-feature size, ``k`` results per query.
"""
from __future__ import annotations

import dataclasses
import inspect
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import torch
from torch.utils.data import Dataset

from lifelong_reid.config import RunConfig
from lifelong_reid.data.image_io import open_rgb
from lifelong_reid.data.market1501 import IMAGE_SUFFIXES
from lifelong_reid.data.transforms import build_transforms
from lifelong_reid.errors import CheckpointError, DatasetLayoutError
from lifelong_reid.strategy.checkpoint import atomic_write_json, load_checkpoint


def config_from_checkpoint(state: dict, path: Path) -> RunConfig:
    """The :class:`RunConfig` saved in a checkpoint, with ``pretrained``/``weights`` cleared (the weights
    come from the checkpoint itself, so nothing is downloaded).

    Raises:
        CheckpointError: the checkpoint holds no config or model weights (not written by ``lreid run``).
    """
    if "config" not in state or "strategy" not in state:
        raise CheckpointError(f"{path}: not a lifelong_reid checkpoint (no config / strategy state); use a file "
                              "from a run's checkpoints/ folder")
    known = {f.name for f in dataclasses.fields(RunConfig)}
    try:
        config = RunConfig(**{k: v for k, v in state["config"].items() if k in known})
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its saved config is not valid here ({e})") from None
    config.pretrained, config.weights = None, None
    return config


def load_strategy(checkpoint: str | Path, *, device: Optional[str] = None, plugins: Iterable = (),
                  block: Sequence[str] = (), progress: Optional[bool] = None, overrides: Sequence[str] = ()):
    """A :class:`~lifelong_reid.strategy.ReIDStrategy` holding the model and plugin state of ``checkpoint``.

    The plugins of the run are rebuilt from the saved config (``plugins``: names and settings) through the
    registry, so a checkpoint of a method run needs no experiment file.

    Args:
        device: overrides the saved device (``"cpu"``, ``"cuda"``, ``"auto"``).
        plugins: extra plugin objects / modules to register (e.g. the experiment module, when it registered
            plugin objects that are not in the registry).
        block: plugin names not to load.
        overrides: ``key=value`` config overrides (``eval_metric=euclidean``, ``rerank=true``, ...).

    Raises:
        CheckpointError: unreadable file, not a run checkpoint, or weights that need a plugin that is missing.
        ConfigError: a saved plugin that is not installed here (the message lists the known ones).
    """
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager, register
    from lifelong_reid.registry import activate_plugins
    from lifelong_reid.strategy import ReIDStrategy

    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    state = load_checkpoint(path)
    config = config_from_checkpoint(state, path)
    if device:
        config.device = device
    for assignment in overrides:
        config.override(assignment)
    pm = get_plugin_manager(block=block)
    plugins = list(plugins)
    activate_plugins(config, pm, objects=[p for p in plugins if not inspect.ismodule(p)], block=block)
    for module in (p for p in plugins if inspect.ismodule(p)):
        register(pm, module, name=f"experiment:{getattr(module, '__name__', 'module')}")
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=pm, progress=progress)
    try:
        strategy.load_state_dict(state["strategy"], strict=False)
    except CheckpointError as e:
        from lifelong_reid import __version__

        saved_model = state["config"].get("model")
        saved_version = state.get("library_version", "before 0.1.0")
        raise CheckpointError(f"{path}: {e} [checkpoint: model {saved_model}, lifelong_reid {saved_version}; here: "
                              f"model {config.model}, lifelong_reid {__version__}]") from None
    strategy.model.to(strategy.device)
    return strategy


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted.

    Raises:
        DatasetLayoutError: the folder is missing or holds no image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: no such folder of images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DatasetLayoutError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) found")
    return files


class _ImageFiles(Dataset):
    """Items ``[image, -1, -1, -1, index]`` (the item layout the strategy's feature extraction reads)."""

    def __init__(self, paths: Sequence[Path], transform: Callable):
        self.paths, self.transform = list(paths), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return [self.transform(open_rgb(self.paths[i])), -1, -1, -1, i]


def embed_images(strategy, paths: Sequence[Path]) -> torch.Tensor:
    """``(N, F)`` retrieval features of image files, as the strategy computes them at evaluation time."""
    _, eval_tf = build_transforms(tuple(strategy.config.image_size))
    feats, _, _ = strategy.extract_features(_ImageFiles(paths, eval_tf), desc="embedding")
    return feats


def search_folders(strategy, query_dir: str | Path, gallery_dir: str | Path, *, top: int = 10,
                   backend: str = "auto") -> list[dict]:
    """Embed both folders and rank the gallery for every query image.

    Returns:
        One ``{"query": path, "results": [{"path", "distance"}, ...]}`` per query image, closest first
        (distances per ``config.eval_metric``; cosine distance is ``1 - cos``).
    """
    from lifelong_reid.evaluation.search import knn

    queries, gallery = list_images(query_dir), list_images(gallery_dir)
    qf, gf = embed_images(strategy, queries), embed_images(strategy, gallery)
    dist, idx = knn(qf, gf, min(top, len(gallery)), metric=strategy.config.eval_metric, backend=backend)
    return [{"query": str(q), "results": [{"path": str(gallery[j]), "distance": float(d)}
                                          for d, j in zip(dist[i].tolist(), idx[i].tolist())]}
            for i, q in enumerate(queries)]


def evaluate_checkpoint(strategy, domains: Sequence, output: Path, *, checkpoint: str = "", echo=print) -> dict:
    """Evaluate on ``domains`` (:class:`~lifelong_reid.data.DomainData`) and write ``results.json``,
    ``report.md`` and the figures (as ``lreid run`` does) into ``output``.

    Returns:
        The results dict (``matrix`` with one row, ``checkpoint``; ``per_domain`` metrics).
    """
    from lifelong_reid.evaluation.report import evaluation_settings, plugin_sections, write_report, write_visuals
    from lifelong_reid.streams.benchmark import build_benchmark

    started = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    cfg = strategy.config
    _, eval_tf = build_transforms(tuple(cfg.image_size))
    benchmark = build_benchmark("eval", [], domains, unseen=[], transforms=(eval_tf, eval_tf))
    per_domain = strategy.evaluate_domains(benchmark, keep_features=True)
    names = list(per_domain)
    results = {
        "experiment": cfg.name, "stream": "eval", "seed": cfg.seed, "checkpoint": checkpoint, "setting": "checkpoint",
        "evaluation": evaluation_settings(cfg, benchmark.protocol),
        "domains": {"evaluated": names},
        "matrix": {"rows": ["checkpoint"], "cols": names,
                   "mAP": [[per_domain[n]["mAP"] for n in names]], "rank1": [[per_domain[n]["rank1"] for n in names]]},
        "per_domain": {n: {k: v for k, v in m.items() if k != "per_query"} for n, m in per_domain.items()},
    }
    atomic_write_json(output / "results.json", results)
    write_report(results, output, write_visuals(strategy.domain_features, output, metric=cfg.eval_metric),
                 plugin_sections(strategy, output))
    width = max(len(n) for n in names) + 1
    for n in names:
        m = per_domain[n]
        echo(f"{n + ':':<{width}} mAP {m['mAP']:6.2f}  Rank-1 {m['rank1']:6.2f}  Rank-5 {m['rank5']:6.2f}  "
             f"mINP {m['mINP']:6.2f}")
    echo(f"report: {output / 'report.md'}  ({time.perf_counter() - started:.1f} s)")
    return results
