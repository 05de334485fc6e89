"""A persistent gallery index against re-embedding the gallery (issue 15): ``lreid index build`` time and size
on disk for a synthetic gallery of N images, then the search of Q queries with the index (queries embedded
only) against ``lreid search QUERY GALLERY`` (the baseline: the gallery embedded again on every call).

    python benchmarks/index.py --gallery 100000 --queries 1000 [--device cuda] [--workdir DIR]

The gallery is written once by the synthetic generator (``SyntheticDomain.save``) under --workdir and reused.
The model is the bundled tiny one (random weights) at 64x32, so the figures are about the framework's cost.
"""
from __future__ import annotations

import argparse
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gallery", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workdir", default=None, help="Where the synthetic images go (kept between runs).")
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.ERROR)

    from lifelong_reid.index import build_index, search_index
    from lifelong_reid.inference import search_folders
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.strategy import ReIDStrategy
    from lifelong_reid.synthetic import SyntheticDomain
    from lifelong_reid.testing import tiny_config

    work = Path(args.workdir or tempfile.mkdtemp(prefix="lreid-index-bench-"))
    per_id = 30  # 3 cameras x 11 images: one query and 10 gallery images per camera
    ids = math.ceil(args.gallery / per_id)
    data = work / f"synthetic-{args.gallery}"
    if not (data / "bounding_box_test").is_dir():
        t0 = time.perf_counter()
        SyntheticDomain("index-bench", 7, num_train_ids=0, num_test_ids=ids, num_cameras=3,
                        images_per_camera=11).save(data)
        print(f"wrote the synthetic gallery in {time.perf_counter() - t0:.0f} s")
    gallery = data / "bounding_box_test"
    queries = work / f"queries-{args.queries}"
    if not queries.is_dir():
        queries.mkdir(parents=True)
        for p in sorted((data / "query").iterdir())[:args.queries]:
            shutil.copy(p, queries / p.name)
    config = tiny_config(device=args.device, eval_batch_size=256)
    strategy = ReIDStrategy(model=build_model(config), config=config, pm=get_plugin_manager(), progress=False)

    idx = work / "index"
    shutil.rmtree(idx, ignore_errors=True)
    t0 = time.perf_counter()
    meta = build_index(strategy, gallery, idx, echo=lambda *a: None)
    build_s = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in idx.iterdir()) / 1e6
    t0 = time.perf_counter()
    search_index(strategy, idx, queries, top=10)
    indexed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    search_folders(strategy, queries, gallery, top=10)
    baseline_s = time.perf_counter() - t0
    print(f"gallery {meta['count']} images, {args.queries} queries, device {args.device}, index {meta['factory']}")
    print("| step | seconds | note |\n|---|---|---|")
    print(f"| lreid index build | {build_s:.1f} | {meta['count'] / build_s:.0f} images/s; {size_mb:.1f} MB on disk |")
    print(f"| search with --index | {indexed_s:.1f} | queries embedded, gallery read from the index |")
    print(f"| search without the index (baseline) | {baseline_s:.1f} | gallery embedded again: "
          f"{baseline_s / indexed_s:.1f}x slower |")


if __name__ == "__main__":
    main()
