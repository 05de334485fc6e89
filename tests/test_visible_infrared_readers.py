"""SYSU-MM01, RegDB and LLCM readers on fixtures in their public layouts."""
from __future__ import annotations

import pytest

from lifelong_reid.data.registry import read_dataset
from lifelong_reid.data.visible_infrared import read_llcm, read_regdb
from lifelong_reid.errors import DatasetLayoutError

from dataset_fixtures import touch, write_regdb, write_sysu


def test_sysu_splits_by_id_files_and_modality_with_sysu_camera_numbers(tmp_path):
    write_sysu(tmp_path / "SYSU-MM01")
    d = read_dataset("sysu-mm01", tmp_path)
    assert d.protocol == "sysu_mm01"
    assert {s.pid for s in d.train} == {1, 3} and len(d.train) == 12  # train + val ids, every camera
    assert {(s.camid, s.modality) for s in d.query} == {(3, "ir"), (6, "ir")}
    assert {s.camid for s in d.gallery} == {1, 2, 4, 5} and {s.modality for s in d.gallery} == {"rgb"}
    (tmp_path / "SYSU-MM01" / "exp" / "test_id.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="test_id.txt is missing"):
        read_dataset("sysu-mm01", tmp_path)


def test_regdb_trial_and_both_directions(tmp_path):
    root = write_regdb(tmp_path / "RegDB", trial=3)
    v2t = read_regdb(root, trial=3)
    assert [s.modality for s in v2t.query] == ["rgb", "rgb"] and {s.camid for s in v2t.gallery} == {2}
    t2v = read_regdb(root, trial=3, direction="infrared_to_visible")
    assert t2v.query == v2t.gallery and len(t2v.train) == 4 and t2v.protocol == "regdb"
    with pytest.raises(DatasetLayoutError, match="visible_1.txt is missing"):
        read_regdb(root, trial=1)
    with pytest.raises(DatasetLayoutError, match="direction must be"):
        read_regdb(root, trial=3, direction="sideways")


def test_llcm_cameras_from_file_names(tmp_path):
    root = tmp_path / "LLCM"
    rows = {"train_vis": ["vis/0001/0001_c01_s1_f1_vis.jpg 0"], "train_nir": ["nir/0001/0001_c02_s1_f2_nir.jpg 0"],
            "test_vis": ["test_vis/cam1/0009/0009_c04_s1_f1_vis.jpg 9"],
            "test_nir": ["test_nir/cam1/0009/0009_c07_s1_f1_nir.jpg 9"]}
    for name, lines in rows.items():
        touch(root / "idx" / f"{name}.txt")
        (root / "idx" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    d = read_dataset("llcm", tmp_path)
    assert [(s.pid, s.camid, s.modality) for s in d.query] == [(9, 7, "ir")]
    assert [(s.camid, s.modality) for s in d.train] == [(1, "rgb"), (2, "ir")]
    assert read_llcm(root, direction="visible_to_infrared").query[0].modality == "rgb"
