"""How long reading file names takes: 100,000 empty files in the Market-1501 layout and in the MSMT17
list-file layout, read by the library's readers (baseline: listing the same folders with ``os.scandir``).

Usage: ``python benchmarks/readers.py [--images 100000]``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from lifelong_reid.data.market1501 import read_market1501
from lifelong_reid.data.msmt17 import read_msmt17


def make_market(root: Path, n: int) -> None:
    per = {"bounding_box_train": n // 2, "query": n // 10, "bounding_box_test": n - n // 2 - n // 10}
    for folder, count in per.items():
        (root / folder).mkdir(parents=True)
        for i in range(count):
            (root / folder / f"{i % 1500:04d}_c{i % 6 + 1}s1_{i:06d}_00.jpg").touch()


def make_msmt(root: Path, n: int) -> None:
    for folder, lists in (("mask_train_v2", ("list_train.txt", "list_val.txt")),
                          ("mask_test_v2", ("list_query.txt", "list_gallery.txt"))):
        for lst in lists:
            lines = []
            for i in range(n // 4):
                pid = i % 1000
                rel = f"{pid:04d}/{pid:04d}_{i:06d}_{i % 15 + 1:02d}_0303morning_0001_0.jpg"
                (root / folder / f"{pid:04d}").mkdir(parents=True, exist_ok=True)
                (root / folder / rel).touch()
                lines.append(f"{rel} {pid}")
            (root / lst).write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=100_000)
    n = ap.parse_args().images
    with tempfile.TemporaryDirectory() as tmp:
        market, msmt = Path(tmp) / "market", Path(tmp) / "msmt"
        make_market(market, n)
        make_msmt(msmt, n)
        t = time.perf_counter()
        count = sum(len(os.listdir(market / f)) for f in ("bounding_box_train", "query", "bounding_box_test"))
        t_list = time.perf_counter() - t
        t = time.perf_counter()
        d = read_market1501(market)
        t_market = time.perf_counter() - t
        t = time.perf_counter()
        m = read_msmt17(msmt)
        t_msmt = time.perf_counter() - t
        t = time.perf_counter()
        read_msmt17(msmt, check_files=True)
        t_msmt_check = time.perf_counter() - t
    print(f"{count} file names: os.listdir {t_list:.3f} s (baseline) | read_market1501 {t_market:.3f} s "
          f"({len(d.train) + len(d.query) + len(d.gallery)} samples)")
    print(f"{len(m.train) + len(m.query) + len(m.gallery)} MSMT17 list lines: read_msmt17 {t_msmt:.3f} s, "
          f"with every file checked {t_msmt_check:.3f} s")


if __name__ == "__main__":
    main()
