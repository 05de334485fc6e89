"""A persistent gallery index: embed a folder once with a checkpoint, search it many times.

An index folder holds

- ``index.faiss``: a faiss inner-product index of the gallery features (unit vectors for the cosine metric,
  ``[g, |g|^2]`` for squared Euclidean: :func:`~lifelong_reid.evaluation.search.database_vectors`); exact
  ``Flat`` up to :data:`IVF_FROM` images, ``IVF{4 sqrt(N)},Flat`` beyond (or any ``index_factory`` string);
- ``items.jsonl``: one ``{"path", "pid", "camid"}`` per indexed image, in index order (pid / camid from a
  Market-1501-style file name, ``-1`` otherwise);
- ``meta.json``: the model fingerprint (:func:`model_fingerprint`), metric, feature size, factory, count, the
  checkpoint it was built with.

``build_index`` embeds in chunks of ``chunk`` images saved under ``chunks/`` as it goes, so an interrupted
build resumes where it stopped; the chunks are removed once the index is written (atomically).
``search_index`` refuses an index built by another model, since its features live in another space.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from lifelong_reid.errors import ConfigError
from lifelong_reid.strategy.checkpoint import atomic_write_bytes, atomic_write_json

#: Galleries at least this large get an IVF index by default (approximate, trained on the gallery).
IVF_FROM = 200_000
INDEX_FILE, META_FILE, ITEMS_FILE, CHUNKS = "index.faiss", "meta.json", "items.jsonl", "chunks"


def model_fingerprint(strategy) -> str:
    """SHA-256 (16 hex digits) of what decides the retrieval features: every weight of the model (names,
    shapes, values), the image size and the metric."""
    h = hashlib.sha256()
    for name, t in sorted(strategy.model.state_dict().items()):
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if t.numel() else b"")
    h.update(json.dumps([list(strategy.config.image_size), strategy.config.eval_metric]).encode())
    return h.hexdigest()[:16]


def _item(path: Path) -> dict:
    from lifelong_reid.data.market1501 import parse_market_name
    from lifelong_reid.errors import DatasetLayoutError

    try:
        pid, camid = parse_market_name(path.name, path.parent)
    except DatasetLayoutError:  # not a Market-1501-style name: identity and camera unknown
        pid, camid = -1, -1
    return {"path": str(path), "pid": pid, "camid": camid}


def default_factory(count: int) -> str:
    """``"Flat"`` (exact) below :data:`IVF_FROM` images, else ``"IVF{4 sqrt(count)},Flat"``."""
    return "Flat" if count < IVF_FROM else f"IVF{int(4 * math.sqrt(count))},Flat"


def _write_index(index, path: Path) -> None:
    import faiss

    atomic_write_bytes(path, lambda f: f.write(faiss.serialize_index(index).tobytes()))


def _make_index(vectors: np.ndarray, factory: str):
    import faiss

    try:
        index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise ConfigError(f"faiss cannot build index {factory!r} ({' '.join(str(e).split())[:160]}); use e.g. Flat, "
                          "IVF1024,Flat or HNSW32") from None
    if not index.is_trained:
        index.train(vectors)
    index.add(vectors)
    return index


def _embed(strategy, paths: list[Path]) -> np.ndarray:
    from lifelong_reid.evaluation.search import database_vectors
    from lifelong_reid.inference import embed_images

    return database_vectors(embed_images(strategy, paths), strategy.config.eval_metric).cpu().numpy()


def _read_meta(folder: Path) -> Optional[dict]:
    path = Path(folder) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _check_model(meta: dict, strategy, folder: Path) -> None:
    here = model_fingerprint(strategy)
    if meta["fingerprint"] != here:
        raise ConfigError(f"{folder} was built by another model (fingerprint {meta['fingerprint']}, from "
                          f"{meta.get('checkpoint', '?')}); this checkpoint's is {here}: its features would not "
                          "compare. Rebuild it with lreid index build")


def build_index(strategy, image_dir: str | Path, output: str | Path, *, chunk: int = 4096,
                factory: Optional[str] = None, checkpoint: str = "", echo=print) -> dict:
    """Embed every image under ``image_dir`` and write an index folder ``output``; returns its metadata.

    An interrupted build with the same model and the same images resumes from its saved chunks.

    Raises:
        ConfigError: ``output`` holds an index of another model or of other images, or a bad ``factory``.
        DatasetLayoutError: no image under ``image_dir``.
    """
    from lifelong_reid.inference import list_images

    output = Path(output)
    paths = list_images(image_dir)
    items = [_item(p) for p in paths]
    listing = hashlib.sha256("\n".join(i["path"] for i in items).encode()).hexdigest()[:16]
    fingerprint = model_fingerprint(strategy)
    meta = _read_meta(output)
    if meta is not None:
        raise ConfigError(f"{output} already holds an index ({meta['count']} images); add images with lreid index "
                          "add, or choose another --output")
    chunks = output / CHUNKS
    progress = chunks / "progress.json"
    state = json.loads(progress.read_text()) if progress.is_file() else None
    if state is not None and (state["fingerprint"], state["listing"], state["chunk"]) != (fingerprint, listing, chunk):
        raise ConfigError(f"{output} holds a partial build of another model or other images; remove {chunks} to "
                          "start again")
    chunks.mkdir(parents=True, exist_ok=True)
    atomic_write_json(progress, {"fingerprint": fingerprint, "listing": listing, "chunk": chunk})
    parts = []
    for c, start in enumerate(range(0, len(paths), chunk)):
        part = chunks / f"{c:05d}.npy"
        if not part.is_file():  # np.save of a finished chunk, atomically: a kill loses at most one chunk
            vectors = _embed(strategy, paths[start:start + chunk])
            atomic_write_bytes(part, lambda f, v=vectors: np.save(f, v))
            echo(f"embedded {min(start + chunk, len(paths))} of {len(paths)} images")
        parts.append(np.load(part))
    vectors = np.concatenate(parts)
    factory = factory or default_factory(len(vectors))
    _write_index(_make_index(vectors, factory), output / INDEX_FILE)
    atomic_write_bytes(output / ITEMS_FILE, lambda f: f.write("".join(json.dumps(i) + "\n" for i in items).encode()))
    meta = {"fingerprint": fingerprint, "metric": strategy.config.eval_metric, "dim": int(vectors.shape[1]),
            "factory": factory, "count": len(items), "checkpoint": str(checkpoint), "nprobe": 16}
    atomic_write_json(output / META_FILE, meta)
    for p in chunks.iterdir():
        p.unlink()
    chunks.rmdir()
    return meta


def load_index(strategy, folder: str | Path, gpu: bool = True):
    """``(faiss index, metadata, items)`` of an index folder built with ``strategy``'s model (moved to the GPU
    when ``gpu``, the strategy runs on CUDA and faiss-gpu is installed).

    Raises:
        ConfigError: no index there, or one built by another model.
    """
    import faiss

    folder = Path(folder)
    meta = _read_meta(folder)
    if meta is None or not (folder / INDEX_FILE).is_file():
        raise ConfigError(f"{folder}: no index there (build one with lreid index build)")
    _check_model(meta, strategy, folder)
    index = faiss.deserialize_index(np.frombuffer((folder / INDEX_FILE).read_bytes(), dtype=np.uint8))
    items = [json.loads(line) for line in (folder / ITEMS_FILE).read_text().splitlines() if line]
    if hasattr(index, "nprobe"):
        index.nprobe = meta.get("nprobe", 16)
    if gpu and strategy.device.type == "cuda" and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index, meta, items


def add_to_index(strategy, folder: str | Path, image_dir: str | Path) -> dict:
    """Embed the images under ``image_dir`` that the index does not hold yet and append them; returns the
    updated metadata.

    Raises:
        ConfigError: no index, or one built by another model.
    """
    from lifelong_reid.inference import list_images

    folder = Path(folder)
    index, meta, items = load_index(strategy, folder, gpu=False)
    known = {i["path"] for i in items}
    new = [p for p in list_images(image_dir) if str(p) not in known]
    if new:
        index.add(_embed(strategy, new))
        items += [_item(p) for p in new]
        _write_index(index, folder / INDEX_FILE)
        atomic_write_bytes(folder / ITEMS_FILE,
                           lambda f: f.write("".join(json.dumps(i) + "\n" for i in items).encode()))
        meta["count"] = len(items)
        atomic_write_json(folder / META_FILE, meta)
    meta["added"] = len(new)
    return meta


def search_index(strategy, folder: str | Path, query_dir: str | Path, *, top: int = 10) -> list[dict]:
    """Rank the indexed gallery for every image under ``query_dir`` (only the queries are embedded).

    Returns:
        One ``{"query": path, "results": [{"path", "distance", "pid", "camid"}, ...]}`` per query, closest
        first (distances per the index's metric).
    """
    from lifelong_reid.evaluation.search import inner_products_to_distances, query_vectors
    from lifelong_reid.inference import embed_images, list_images

    index, meta, items = load_index(strategy, folder)
    queries = list_images(query_dir)
    qf = embed_images(strategy, queries)
    k = min(top, len(items))
    score, idx = index.search(query_vectors(qf, meta["metric"]).cpu().numpy(), k)
    dist = inner_products_to_distances(torch.from_numpy(score), qf.cpu(), meta["metric"])
    return [{"query": str(q), "results": [{**items[j], "distance": float(d)}
                                          for d, j in zip(dist[i].tolist(), idx[i].tolist()) if j >= 0]}
            for i, q in enumerate(queries)]


__all__ = ["build_index", "add_to_index", "search_index", "load_index", "model_fingerprint", "default_factory",
           "IVF_FROM"]
