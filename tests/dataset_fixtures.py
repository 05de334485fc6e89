"""Writers of small dataset fixtures in each dataset's public layout (empty files with the real names)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def write_msmt17(root: Path, version: str = "v2") -> Path:
    train_dir, test_dir = ("mask_train_v2", "mask_test_v2") if version == "v2" else ("train", "test")
    lists = {"list_train.txt": (train_dir, [(0, 1), (0, 3), (1, 2), (1, 15)]),
             "list_val.txt": (train_dir, [(2, 5), (2, 6)]),
             "list_query.txt": (test_dir, [(0, 4), (1, 7)]),
             "list_gallery.txt": (test_dir, [(0, 9), (0, 10), (1, 11), (1, 7)])}
    for fname, (folder, rows) in lists.items():
        lines = []
        for k, (pid, cam) in enumerate(rows):
            rel = f"{pid:04d}/{pid:04d}_{k:03d}_{cam:02d}_0303morning_{k:04d}_0.jpg"
            touch(root / folder / rel)
            lines.append(f"{rel} {pid}")
        (root / fname).write_text("\n".join(lines) + "\n")
    return root


def write_cuhksysu(root: Path) -> Path:
    # pids 1 and 3 have the 4 training images the official Setting-1 selection asks of CUHK-SYSU identities
    for split, pids in (("train", [1, 1, 1, 1, 2, 2, 3, 3, 3, 3]), ("query", [10, 11]), ("gallery", [10, 10, 11, 12])):
        for k, pid in enumerate(pids):
            touch(root / split / f"{pid:05d}_s{100 + k}_{k:07d}_0.jpg")
    (root / "combine").mkdir()
    return root


def write_image(path: Path, size=(16, 32), color=(90, 120, 150), fmt="JPEG", mode="RGB") -> Path:
    """A real (decodable) image of ``size`` (W, H)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode == "RGB" else color[0]).save(path, format=fmt)
    return path


def write_market_layout(root: Path, train=(1, 2, 3), test=(7, 8), name="{pid:04d}_c{cam}s1_{k:06d}_00.jpg",
                        images: bool = False) -> Path:
    """A Market-1501 tree: empty files with the real names, or decodable JPEGs with ``images``."""
    for split, folder, pids in (("train", "bounding_box_train", train), ("query", "query", test),
                                ("gallery", "bounding_box_test", test)):
        for pid in pids:
            for cam in ((1,) if split == "query" else (1, 2)):
                for k in range(2 if split != "query" else 1):
                    path = root / folder / name.format(pid=pid, cam=cam, k=k)
                    write_image(path, color=(pid * 20, cam * 60, k * 90)) if images else touch(path)
    return root


def make_prid(root: Path) -> None:
    for p in range(1, 386):
        touch(root / "single_shot" / "cam_a" / f"person_{p:04d}.png")
    for p in range(1, 750):
        touch(root / "single_shot" / "cam_b" / f"person_{p:04d}.png")


def write_grid_mat(path: Path, train_ids: list[int]) -> None:
    from scipy.io import savemat

    cells = np.empty((1, 10), dtype=object)
    for k in range(10):
        record = np.empty((1, 1), dtype=[("a", "O"), ("b", "O"), ("idx", "O")])
        record[0, 0] = (np.zeros(1), np.zeros(1), np.asarray([train_ids], dtype=float))
        cells[0, k] = record
    savemat(str(path), {"trainIdxAll": cells})


def write_sysu(root):
    (root / "exp").mkdir(parents=True)
    (root / "exp" / "train_id.txt").write_text("1,2")
    (root / "exp" / "val_id.txt").write_text("3")
    (root / "exp" / "test_id.txt").write_text("7,8")
    for cam in range(1, 7):
        for pid in (1, 3, 7, 8):
            touch(root / f"cam{cam}" / f"{pid:04d}" / "0001.jpg")
    return root


def write_regdb(root, trial=1):
    for split, pids in (("train", (0, 1)), ("test", (5, 6))):
        for modal, folder, letter in (("visible", "Visible", "v"), ("thermal", "Thermal", "t")):
            lines = []
            for pid in pids:
                rel = f"{folder}/{pid}/female_back_{letter}_0000{pid}_{pid}.bmp"
                touch(root / rel)
                lines.append(f"{rel} {pid}")
            touch(root / "idx" / f"{split}_{modal}_{trial}.txt")
            (root / "idx" / f"{split}_{modal}_{trial}.txt").write_text("\n".join(lines) + "\n")
    return root


def write_all(root: Path) -> Path:
    """Every registered dataset under ``root`` (tiny, but readable and evaluable)."""
    write_market_layout(root / "Market-1501")
    write_market_layout(root / "DukeMTMC-reID", name="{pid:04d}_c{cam}_f{k:07d}.jpg")
    write_market_layout(root / "LPW_s2")
    write_market_layout(root / "cuhk03-np" / "detected", name="{pid:04d}_c{cam}_{k}.png")
    write_market_layout(root / "cuhk03-np" / "labeled", name="{pid:04d}_c{cam}_{k}.png")
    write_msmt17(root / "MSMT17_V2")
    write_cuhksysu(root / "cuhksysu4reid")
    for f in ("0001_1.jpg", "0002_1.jpg"):
        touch(root / "sensereid" / "SenseReID" / "test_probe" / f)
    for f in ("0001_2.jpg", "0002_2.jpg", "0003_2.jpg"):
        touch(root / "sensereid" / "SenseReID" / "test_gallery" / f)
    make_prid(root / "prid2011")
    for i in range(6):
        touch(root / "viper" / "VIPeR" / "cam_a" / f"{i:03d}_45.bmp")
        touch(root / "viper" / "VIPeR" / "cam_b" / f"{i:03d}_90.bmp")
    for p in range(1, 7):
        for n in range(1, 5):
            touch(root / "cuhk01" / "campus" / f"{p:04d}{n:03d}.png")
    for cam in ("cam1", "cam2"):
        for pid in (1, 2):
            touch(root / "cuhk02" / "Dataset" / "P5" / cam / f"{pid}_1.png")
    base = root / "grid" / "underground_reid"
    for pid in range(1, 5):
        touch(base / "probe" / f"{pid:04d}_1_1_1_1_1.jpeg")
        touch(base / "gallery" / f"{pid:04d}_5_1_1_1_1.jpeg")
    write_grid_mat(base / "features_and_partitions.mat", [1, 3])
    for pid in range(1, 6):
        for k in range(1, 4):
            touch(root / "ilids" / "i-LIDS_Pedestrian" / "Persons" / f"{pid:04d}{k:03d}.jpg")
    return root
