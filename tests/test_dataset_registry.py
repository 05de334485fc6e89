"""Known datasets: each reader on a fixture written in its public layout (file names included), the
registry that finds them under a data root, ``lreid datasets check``, and the named lifelong settings."""
from __future__ import annotations


import pytest
from click.testing import CliRunner

from lifelong_reid.cli import main
from lifelong_reid.data.check import check_root
from lifelong_reid.data.registry import dataset_names, read_dataset, split_counts
from lifelong_reid.errors import DatasetLayoutError
from lifelong_reid.streams.settings import SETTINGS, limit_identities

from dataset_fixtures import touch, write_cuhksysu, write_market_layout, write_msmt17


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_msmt17_reads_list_files_merges_val_and_takes_camera_from_the_name(tmp_path, version):
    root = write_msmt17(tmp_path / ("MSMT17_V2" if version == "v2" else "MSMT17_V1"), version)
    d = read_dataset("msmt17", tmp_path)
    assert [(s.pid, s.camid) for s in d.train] == [(0, 0), (0, 2), (1, 1), (1, 14), (2, 4), (2, 5)]
    assert [(s.pid, s.camid) for s in d.query] == [(0, 3), (1, 6)]
    assert len(d.gallery) == 4 and d.gallery[0].path.startswith(str(root))
    (root / "list_query.txt").write_text("0000/broken.jpg\n")
    with pytest.raises(DatasetLayoutError, match="list_query.txt:1"):
        read_dataset("msmt17", tmp_path)


def test_msmt17_names_missing_list_files_and_folders(tmp_path):
    root = write_msmt17(tmp_path / "MSMT17_V1", "v1")
    (root / "list_val.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="list_val.txt is missing"):
        read_dataset("msmt17", tmp_path)
    (tmp_path / "MSMT17").mkdir()
    with pytest.raises(DatasetLayoutError, match="not an MSMT17 folder"):
        from lifelong_reid.data.msmt17 import read_msmt17
        read_msmt17(tmp_path / "MSMT17")


def test_cuhksysu_crops_are_one_camera_with_the_single_camera_protocol(tmp_path):
    write_cuhksysu(tmp_path / "cuhksysu4reid")
    d = read_dataset("cuhk-sysu", tmp_path)
    assert d.protocol == "single_camera"
    assert [s.pid for s in d.train] == [1, 1, 1, 1, 2, 2, 3, 3, 3, 3] and {s.camid for s in d.train + d.gallery} == {0}
    assert split_counts(d)["gallery"] == {"images": 4, "junk": 0, "ids": 3, "cameras": 1}
    touch(tmp_path / "cuhksysu4reid" / "query" / "person1.jpg")
    with pytest.raises(DatasetLayoutError, match="PID_sIMAGE_INDEX_HARD"):
        read_dataset("cuhk-sysu", tmp_path)


@pytest.mark.parametrize("name, folder, pattern", [
    ("dukemtmc-reid", "DukeMTMC-reID", "{pid:04d}_c{cam}_f{k:07d}.jpg"),
    ("cuhk03-np-detected", "cuhk03-np/detected", "{pid:04d}_c{cam}_{k}.png"),
    ("cuhk03-np-labeled", "cuhk03-np/labeled", "{pid:04d}_c{cam}_{k}.png"),
    ("lpw", "LPW_s2", "{pid:04d}_c{cam}s1_{k:06d}_00.jpg"),
    ("market1501", "Market-1501-v15.09.15", "{pid:04d}_c{cam}s1_{k:06d}_00.jpg"),
])
def test_market_layout_datasets_are_found_under_their_public_folder_names(tmp_path, name, folder, pattern):
    write_market_layout(tmp_path / folder, name=pattern)
    d = read_dataset(name, tmp_path)
    c = split_counts(d)
    assert (c["train"]["images"], c["train"]["ids"], c["query"]["images"], c["gallery"]["images"]) == (12, 3, 2, 8)
    assert {s.camid for s in d.gallery} == {0, 1}


def test_unknown_and_missing_datasets_are_clear_errors(tmp_path):
    with pytest.raises(DatasetLayoutError, match="unknown dataset 'market'; known: market1501"):
        read_dataset("market", tmp_path)
    with pytest.raises(DatasetLayoutError, match=r"msmt17: not found under .*looked for MSMT17_V2"):
        read_dataset("msmt17", tmp_path)


def test_check_reports_found_missing_malformed_and_readable_folders(tmp_path):
    write_msmt17(tmp_path / "MSMT17_V2")
    write_cuhksysu(tmp_path / "cuhksysu4reid")
    (tmp_path / "DukeMTMC-reID" / "query").mkdir(parents=True)  # malformed: no other folders
    write_market_layout(tmp_path / "my-market-export")
    (tmp_path / "captions").mkdir()  # side files: no dataset layout
    status = {s.name: s for s in check_root(tmp_path, decode=False)}  # layouts only (the files are empty)
    assert status["msmt17"].status == "found"
    assert any("published 32621 / 1041" in m for m in status["msmt17"].mismatches)
    assert status["cuhk-sysu"].status == "found" and not status["cuhk-sysu"].mismatches
    assert status["dukemtmc-reid"].status == "malformed" and "bounding_box_train" in status["dukemtmc-reid"].message
    assert status["market1501"].status == "missing"
    assert status["my-market-export"].status == "readable"
    assert status["captions"].status == "skipped" and "no dataset layout" in status["captions"].message
    assert set(dataset_names()) <= set(status)


def test_check_cli_and_stream_readiness(tmp_path):
    write_market_layout(tmp_path / "Market-1501", images=True)
    r = CliRunner().invoke(main, ["datasets", "check", str(tmp_path)])
    assert r.exit_code == 0 and "found      market1501" in r.output and "missing    msmt17" in r.output
    assert "differs from the published size: train: 12 images / 3 ids (published 12936 / 751)" in r.output
    r = CliRunner().invoke(main, ["datasets", "check", str(tmp_path), "--stream", "lreid-setting1"])
    assert r.exit_code == 1 and "stream lreid-setting1: NOT ready" in r.output
    r = CliRunner().invoke(main, ["datasets", "check", str(tmp_path), "--stream", "nope"])
    assert r.exit_code == 2 and "unknown stream 'nope'" in r.output


def test_real_market1501_mini_counts_in_the_check(shared_data):
    status = {s.name: s for s in check_root(shared_data, decode=False)}
    c = status["market1501-mini"].counts
    assert (c["train"]["images"], c["train"]["ids"], c["query"]["images"]) == (2882, 100, 599)
    assert c["gallery"]["images"] + c["gallery"]["junk"] == 2758


def test_settings_orders_and_identity_limit(tmp_path):
    assert SETTINGS["lreid-setting1"].train == ("market1501", "cuhk-sysu", "lpw", "msmt17", "cuhk03-np-labeled")
    assert SETTINGS["lreid-setting1-smallest"].train[-1] == "cuhk03-np-detected"
    assert SETTINGS["lreid-setting1"].selection == "official" and SETTINGS["lreid-setting1-smallest"].selection == "smallest"
    assert SETTINGS["lreid-setting2"].train[:2] == ("lpw", "msmt17")
    assert "dukemtmc-reid" in SETTINGS["dask-setting1"].train and "lpw" not in SETTINGS["dask-setting1"].train
    write_market_layout(tmp_path / "Market-1501", train=(9, 3, 5, 1))
    d = read_dataset("market1501", tmp_path)
    limited = limit_identities(d, 2)
    assert sorted({s.pid for s in limited.train}) == [1, 3]  # the smallest pids, as select_num keeps
    assert limited.query == d.query and limited.gallery == d.gallery


def test_the_official_selection_follows_pythons_set_order_not_the_smallest_pids(tmp_path):
    from lifelong_reid.streams.settings import official_identities, select_identities, set_order

    # a fresh set has 8 slots: 6 and 7 take their own, 9 wraps to slot 1, so the release enumerates 9, 6, 7
    assert set_order([6, 7, 9]) == [9, 6, 7]
    write_market_layout(tmp_path / "LPW_s2", train=(6, 7, 9))
    d = read_dataset("lpw", tmp_path)
    assert sorted({s.pid for s in official_identities(d, 2).train}) == [6, 9]  # relabelled 0 and 1
    assert sorted({s.pid for s in select_identities(d, "lpw", 2, "smallest").train}) == [6, 7]
    assert official_identities(d, 2).query == d.query


def test_the_official_cuhk_sysu_selection_keeps_identities_with_four_images_first():
    from lifelong_reid.data.sample import DomainData, Sample
    from lifelong_reid.streams.settings import select_identities

    counts = {1: 4, 2: 3, 3: 5, 4: 4}  # pid 2 has too few images
    train = [Sample(f"/d/{pid:05d}_s{k}_0_0.jpg", pid, 0, "cuhk-sysu") for pid, n in counts.items() for k in range(n)]
    d = DomainData("cuhk-sysu", train=train)
    assert sorted({s.pid for s in select_identities(d, "cuhk-sysu", 2, "official").train}) == [1, 3]
    assert sorted({s.pid for s in select_identities(d, "cuhk-sysu", 2, "smallest").train}) == [1, 2]
    with pytest.raises(ValueError, match="unknown identity selection 'random'"):
        select_identities(d, "cuhk-sysu", 2, "random")
