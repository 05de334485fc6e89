"""Readers of the test-only lifelong ReID domains on fixtures in their public layouts (empty files with
the real names), including the split files torchreid writes."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from lifelong_reid.data.registry import read_dataset, split_counts
from lifelong_reid.errors import DatasetLayoutError

from dataset_fixtures import make_prid, touch, write_grid_mat


def test_sensereid_reads_probe_and_gallery_names(tmp_path):
    for f in ("0001_1.jpg", "0002_3.jpg"):
        touch(tmp_path / "sensereid" / "SenseReID" / "test_probe" / f)
    for f in ("0001_2.jpg", "0002_1.jpg", "0009_4.jpg"):
        touch(tmp_path / "sensereid" / "SenseReID" / "test_gallery" / f)
    d = read_dataset("sensereid", tmp_path)
    assert [(s.pid, s.camid) for s in d.query] == [(1, 1), (2, 3)]
    assert split_counts(d)["gallery"]["ids"] == 3 and d.train == []


def test_prid_test_split_follows_torchreid(tmp_path):
    make_prid(tmp_path / "prid2011")
    d = read_dataset("prid", tmp_path)
    train = random.Random(0).sample(range(1, 201), 100)
    assert sorted(s.pid for s in d.query) == sorted(set(range(1, 201)) - set(train))
    assert len(d.gallery) == 100 + 549 and {s.camid for s in d.gallery} == {1}
    (tmp_path / "prid2011" / "splits_single_shot.json").write_text(json.dumps([{"train": list(range(101, 201)),
                                                                                  "test": list(range(1, 101))}]))
    d = read_dataset("prid", tmp_path)
    assert [s.pid for s in d.query] == list(range(1, 101))  # the split file wins


def test_viper_pairs_by_sorted_order_and_reads_a_split_file_by_file_name(tmp_path):
    root = tmp_path / "viper"
    for i in range(10):
        touch(root / "VIPeR" / "cam_a" / f"{i:03d}_45.bmp")
        touch(root / "VIPeR" / "cam_b" / f"{i:03d}_90.bmp")
    d = read_dataset("viper", tmp_path)
    expected = sorted(np.random.RandomState(0).permutation(10)[5:].tolist())
    assert [s.pid for s in d.query] == expected == [s.pid for s in d.gallery]
    assert Path(d.query[0].path).parent.name == "cam_a" and Path(d.gallery[0].path).parent.name == "cam_b"
    split = {"query": [["/elsewhere/VIPeR/cam_a/002_45.bmp", 2, 0]], "gallery": [], "train": []}
    (root / "splits.json").write_text(json.dumps([split]))
    assert [s.pid for s in read_dataset("viper", tmp_path).query] == [2]
    touch(root / "VIPeR" / "cam_b" / "extra.bmp")
    with pytest.raises(DatasetLayoutError, match="pairs them one to one"):
        read_dataset("viper", tmp_path)


def test_cuhk01_cameras_from_image_number_and_half_the_ids_for_test(tmp_path):
    for p in range(1, 11):
        for n in range(1, 5):
            touch(tmp_path / "cuhk01" / "campus" / f"{p:04d}{n:03d}.png")
    d = read_dataset("cuhk01", tmp_path)
    c = split_counts(d)
    assert (c["query"]["ids"], c["query"]["images"], c["gallery"]["images"]) == (5, 10, 10)
    assert {s.camid for s in d.query} == {0} and {s.camid for s in d.gallery} == {1}


def test_cuhk02_uses_the_p5_camera_pair(tmp_path):
    for pair in ("P1", "P5"):
        for cam in ("cam1", "cam2"):
            for pid in (1, 2):
                touch(tmp_path / "cuhk02" / "Dataset" / pair / cam / f"{pid + (100 if pair == 'P5' else 0)}_1.png")
    d = read_dataset("cuhk02", tmp_path)
    assert [s.pid for s in d.query] == [101, 102] and {s.camid for s in d.gallery} == {1}


def test_grid_reads_the_official_partition_and_keeps_distractors(tmp_path):
    base = tmp_path / "grid" / "underground_reid"
    for pid in range(1, 5):
        touch(base / "probe" / f"{pid:04d}_1_25004_107_32_130.jpeg")
        touch(base / "gallery" / f"{pid:04d}_5_25004_107_32_130.jpeg")
    touch(base / "gallery" / "0000_3_11111_1_1_1.jpeg")
    write_grid_mat(base / "features_and_partitions.mat", [1, 3])
    d = read_dataset("grid", tmp_path)
    assert [s.pid for s in d.query] == [2, 4] and {s.camid for s in d.query} == {0}
    assert [s.pid for s in d.gallery] == [0, 2, 4] and d.gallery[1].camid == 4
    (base / "features_and_partitions.mat").unlink()
    with pytest.raises(DatasetLayoutError, match="features_and_partitions.mat is missing"):
        read_dataset("grid", tmp_path)


def test_ilids_one_query_and_one_gallery_image_per_test_identity(tmp_path):
    for pid in range(1, 12):
        for k in range(1, 5):
            touch(tmp_path / "ilids" / "i-LIDS_Pedestrian" / "Persons" / f"{pid:04d}{k:03d}.jpg")
    d = read_dataset("ilids", tmp_path)
    assert len(d.query) == len(d.gallery) == 6  # 11 - 11 // 2
    assert [s.pid for s in d.query] == [s.pid for s in d.gallery]
    assert all(q.path != g.path for q, g in zip(d.query, d.gallery))
    assert d == read_dataset("ilids", tmp_path)  # seeded


def test_prid_under_torchreids_extra_folder_level(tmp_path):
    make_prid(tmp_path / "prid2011" / "prid_2011")
    assert len(read_dataset("prid", tmp_path).query) == 100
