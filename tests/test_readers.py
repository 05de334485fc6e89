"""Dataset readers: Market-1501 layout and the images + CSV manifest reader."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lifelong_reid.data import read_manifest, read_market1501
from lifelong_reid.errors import DatasetLayoutError, ManifestError


def write_market(root: Path, names: dict) -> Path:
    for folder, files in names.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for f in files:
            Image.new("RGB", (8, 16)).save(root / folder / f)
    return root


@pytest.fixture
def market(tmp_path):
    return write_market(tmp_path / "Market", {
        "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg", "0007_c3s1_000001_00.jpg"],
        "query": ["0001_c1s1_001051_00.jpg", "0003_c4s2_000002_00.jpg"],
        "bounding_box_test": ["0001_c2s1_000301_01.jpg", "0000_c1s1_000151_01.jpg", "-1_c1s1_000401_03.jpg",
                              "0003_c6s3_000123_02.jpg"],
    })


def test_market_reader_parses_pid_camid_junk_and_distractors(market):
    (market / "bounding_box_test" / "Thumbs.db").write_text("not an image")
    d = read_market1501(market, name="m")
    assert [(s.pid, s.camid) for s in d.train] == [(2, 0), (2, 1), (7, 2)]
    assert [(s.pid, s.camid) for s in d.query] == [(1, 0), (3, 3)]
    assert sorted((s.pid, s.camid) for s in d.gallery) == [(-1, 0), (0, 0), (1, 1), (3, 5)]
    assert {s.domain for s in d.train} == {"m"}


def test_market_reader_names_the_missing_folder(market):
    (market / "query" / "0001_c1s1_001051_00.jpg").unlink()
    (market / "query" / "0003_c4s2_000002_00.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match="query holds no images"):
        read_market1501(market)
    with pytest.raises(DatasetLayoutError, match="dataset folder not found"):
        read_market1501(market / "nope")


def test_market_reader_rejects_a_file_name_outside_the_layout(market):
    Image.new("RGB", (8, 16)).save(market / "bounding_box_train" / "person7.jpg")
    with pytest.raises(DatasetLayoutError, match=r"person7\.jpg: file name does not follow"):
        read_market1501(market)


def test_market1501_mini_counts_match_its_readme(shared_data):
    d = read_market1501(shared_data / "market1501-mini")
    assert (len(d.train), len(d.query), len(d.gallery)) == (2882, 599, 2758)
    assert len({s.pid for s in d.train}) == 100
    assert len({s.pid for s in d.query}) == 100
    assert sum(s.pid == -1 for s in d.gallery) == 116
    assert len({s.pid for s in d.gallery if s.pid == 0}) == 1
    assert sum(s.pid == 0 for s in d.gallery) == 84
    stats = d.stats()
    assert stats["train"] == {"images": 2882, "ids": 100, "cameras": 6}
    assert stats["gallery"]["ids"] == 101  # 100 test identities + the distractor id 0000


def write_manifest(root: Path, header: str, rows: list[str], images=("a.jpg", "b.jpg")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in images:
        Image.new("RGB", (8, 16)).save(root / name)
    (root / "manifest.csv").write_text("\n".join([header, *rows]) + "\n")
    return root


def test_manifest_reader_splits_and_modalities(tmp_path):
    root = write_manifest(tmp_path / "ds", "path,pid,camid,split,modality",
                          ["a.jpg,5,0,train,rgb", "b.jpg,5,1,query,ir", "a.jpg,6,1,gallery,"])
    d = read_manifest(root)
    assert d.name == "ds"
    assert [(s.pid, s.camid, s.modality) for s in d.train] == [(5, 0, "rgb")]
    assert [(s.pid, s.modality) for s in d.query] == [(5, "ir")]
    assert d.gallery[0].path == str(root / "a.jpg")


def test_manifest_without_split_column_is_all_train(tmp_path):
    d = read_manifest(write_manifest(tmp_path / "ds", "path,pid,camid", ["a.jpg,1,0", "b.jpg,2,1"]))
    assert len(d.train) == 2 and not d.query


def test_manifest_missing_column_is_named(tmp_path):
    root = write_manifest(tmp_path / "ds", "path,pid", ["a.jpg,1"])
    with pytest.raises(ManifestError, match=r"manifest\.csv: missing column\(s\) camid"):
        read_manifest(root)


def test_manifest_bad_row_names_file_and_line(tmp_path):
    root = write_manifest(tmp_path / "ds", "path,pid,camid,split", ["a.jpg,1,0,train", "b.jpg,x,0,train"])
    with pytest.raises(ManifestError, match=r"manifest\.csv:3: pid and camid must be integers"):
        read_manifest(root)
    root = write_manifest(tmp_path / "ds2", "path,pid,camid,split", ["a.jpg,1,0,test"])
    with pytest.raises(ManifestError, match="split must be one of"):
        read_manifest(root)


def test_manifest_missing_image_is_named(tmp_path):
    root = write_manifest(tmp_path / "ds", "path,pid,camid", ["missing.jpg,1,0"])
    with pytest.raises(DatasetLayoutError, match=r"missing\.jpg does not exist"):
        read_manifest(root)


def test_cuhk03_mini_counts_match_its_readme(shared_data):
    d = read_manifest(shared_data / "cuhk03-mini", name="cuhk03")
    assert (len(d.train), len(d.query), len(d.gallery)) == (148, 30, 117)
    assert len({s.pid for s in d.train}) == 15 and len({s.pid for s in d.query}) == 15
    assert {s.camid for s in d.query} == {0, 1}
