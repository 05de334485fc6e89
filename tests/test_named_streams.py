"""Streams by name: the lifelong settings on fixtures of every dataset, any user order, supervised
streams, the synthetic stand-in for Setting 1, and the errors users see."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from lifelong_reid.cli import main
from lifelong_reid.errors import ConfigError, DatasetLayoutError
from lifelong_reid.streams import build_stream
from lifelong_reid.streams.settings import SETTINGS

from dataset_fixtures import write_all, write_regdb


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("datasets"))


def experience_labels(benchmark, t):
    ds = benchmark.train_stream[t].dataset
    return sorted(set(ds.targets)), ds


@pytest.mark.parametrize("name", list(SETTINGS))
def test_each_lifelong_setting_builds_in_its_order_with_its_unseen_domains(data_root, name):
    b = build_stream(name, data_root)
    setting = SETTINGS[name]
    assert b.train_domains == list(setting.train)
    assert b.unseen_domains == list(setting.unseen)
    assert b.eval_domains == [*setting.train, *setting.unseen]
    for t in range(len(b.train_stream)):
        labels, ds = experience_labels(b, t)
        assert labels == list(range(len(labels)))  # contiguous per experience
    market = b.domains["market1501"]
    assert {s.pid for s in market.train} == {1, 2, 3}  # original pids kept on the samples
    assert b.protocol["cuhk-sysu"] == "single_camera"


def test_datasets_check_says_the_setting_is_ready(data_root):
    r = CliRunner().invoke(main, ["datasets", "check", str(data_root), "--stream", "lreid-setting2", "--no-decode"])
    assert r.exit_code == 0, r.output
    assert "stream lreid-setting2: ready" in r.output
    # the identities each domain keeps under the setting's selection: CUHK-SYSU's pid 2 has only 2 images
    assert "training identities kept (official selection, 500 per domain):" in r.output
    assert "  cuhk-sysu: 2 ids / 8 images" in r.output and "  cuhk03-np-labeled: 3 ids / 12 images" in r.output
    r = CliRunner().invoke(main, ["datasets", "check", str(data_root), "--stream", "lreid-setting2-smallest",
                                  "--no-decode"])
    assert "  cuhk-sysu: 3 ids / 10 images" in r.output and "cuhk03-np-detected: 3 ids" in r.output
    r = CliRunner().invoke(main, ["datasets", "check", str(data_root), "--stream", "lreid-setting2"])
    assert r.exit_code == 1 and "empty file (0 bytes)" in r.output  # the fixture's files are empty


def test_user_order_identity_limit_and_unseen(data_root):
    b = build_stream("lifelong:msmt17,market1501+viper", data_root, ids_per_domain=2)
    assert b.train_domains == ["msmt17", "market1501"] and b.unseen_domains == ["viper"]
    assert {s.pid for s in b.domains["market1501"].train} == {1, 2}
    assert {s.pid for s in b.domains["msmt17"].train} == {0, 1}


def test_supervised_stream_is_one_experience(data_root):
    b = build_stream("supervised:dukemtmc-reid", data_root)
    assert len(b.train_stream) == 1 and b.eval_domains == ["dukemtmc-reid"]


def test_single_source_dg_trains_on_the_source_and_tests_the_target(data_root):
    b = build_stream("dg:MA->D", data_root)
    assert b.train_domains == ["market1501"] and b.eval_domains == ["market1501", "dukemtmc-reid"]
    assert b.unseen_domains == ["dukemtmc-reid"] and b.seen_domains == ["market1501"]
    b = build_stream("dg:MA->viper", data_root)  # any readable dataset is a target, as in lifelong:
    assert b.unseen_domains == ["viper"]
    with pytest.raises(DatasetLayoutError, match="nope: no such dataset folder or manifest"):
        build_stream("dg:MA->nope", data_root)


def test_dg_takes_folders_as_lifelong_does(data_root, tmp_path):
    from dataset_fixtures import write_market_layout

    write_market_layout(data_root / "my-export")
    b = build_stream("dg:my-export->D", data_root)
    assert b.train_domains == ["my-export"] and b.unseen_domains == ["dukemtmc-reid"]
    r = CliRunner().invoke(main, ["datasets", "check", str(data_root), "--stream", "dg:my-export->D", "--no-decode"])
    assert r.exit_code == 0 and "stream dg:my-export->D: ready" in r.output, r.output
    for name in ("lifelong:market1501,my-export+viper", "supervised:my-export", "dg-loo:D", "synthetic-vi"):
        r = CliRunner().invoke(main, ["datasets", "check", str(data_root), "--stream", name, "--no-decode"])
        assert r.exit_code == 0 and f"stream {name}: ready" in r.output, r.output
    r = CliRunner().invoke(main, ["datasets", "check", str(data_root), "--stream", "lifelong:market1501,absent"])
    assert r.exit_code == 1 and "missing    absent" in r.output and "NOT ready" in r.output


def test_leave_one_out_merges_three_sources_with_distinct_labels(data_root):
    b = build_stream("dg-loo:C3", data_root)
    assert b.eval_domains == ["cuhk03-np-detected"] and len(b.train_stream) == 1
    ds = b.train_stream[0].dataset
    merged = b.domains[b.train_domains[0]]
    assert {s.domain for s in merged.train} == {"market1501", "dukemtmc-reid", "msmt17"}
    # market1501 and dukemtmc-reid fixtures share pids 1..3, yet get different labels
    pairs = {(s.domain, s.pid) for s in merged.train}
    assert len(set(ds.targets)) == len(pairs)


def test_synthetic_setting1_runs_offline():
    b = build_stream("synthetic-setting1", num_train_ids=6, num_test_ids=5, num_cameras=2, images_per_camera=2)
    assert b.train_domains == [f"synth{i}" for i in range(1, 6)]
    assert b.unseen_domains == ["synth-unseen1", "synth-unseen2", "synth-unseen3"]


def test_stream_errors_name_the_problem(tmp_path, data_root):
    with pytest.raises(ConfigError, match="unknown stream 'setting9'"):
        build_stream("setting9", data_root)
    with pytest.raises(ConfigError, match="--data-root"):
        build_stream("lreid-setting1")
    with pytest.raises(DatasetLayoutError, match="market1501: not found"):
        build_stream("lreid-setting1", tmp_path)


def test_synthetic_vi_stream_queries_infrared_against_visible():
    b = build_stream("synthetic-vi", num_train_ids=6, num_test_ids=4, num_cameras=4, images_per_camera=2)
    d = b.domains["synth-vi"]
    assert {s.modality for s in d.query} == {"ir"} and {s.modality for s in d.gallery} == {"rgb"}
    assert b.protocol["synth-vi"] == "regdb" and not b.unsupervised
    assert min(b.train_stream[0].dataset.targets) == 0


def test_unsupervised_streams_hide_identities_but_keep_true_pids(tmp_path):
    b = build_stream("synthetic-vi-unsupervised", num_train_ids=6, num_test_ids=4, num_cameras=2,
                     images_per_camera=2)
    ds = b.train_stream[0].dataset
    assert set(ds.targets) == {-1} and b.unsupervised == ["synth-vi"]
    assert len(set(ds.pids)) == 6  # the truth, for evaluation and pseudo-label quality


def test_training_on_hidden_identities_without_a_pseudo_label_plugin_is_a_clear_error(tmp_path):
    from lifelong_reid.data import build_transforms
    from lifelong_reid.testing import run_with_plugins, tiny_config

    b = build_stream("synthetic-vi-unsupervised", num_train_ids=6, num_test_ids=4, num_cameras=2,
                     images_per_camera=2, transforms=build_transforms((64, 32)))
    with pytest.raises(ConfigError, match="hides its identities"):
        run_with_plugins([], tmp_path / "run", config=tiny_config(epochs=1), benchmark=b)


def test_synthetic_dg_leaves_one_domain_out():
    b = build_stream("synthetic-dg", num_train_ids=5, num_test_ids=4, num_cameras=2, images_per_camera=2)
    assert b.eval_domains == ["synth-dg4"] == b.unseen_domains
    merged = b.domains[b.train_domains[0]]
    img = merged.image_loader(merged.train[-1])  # a sample of synth-dg3, through the merged loader
    assert img.size == (64, 128)


def test_lifelong_order_over_folders_outside_the_registry(shared_data):
    b = build_stream("lifelong:market1501-mini,cuhk03-mini", shared_data, ids_per_domain=50)
    assert b.train_domains == ["market1501-mini", "cuhk03-mini"]
    assert len({s.pid for s in b.domains["market1501-mini"].train}) == 50


def test_unsupervised_regdb_from_its_files(tmp_path):
    write_regdb(tmp_path / "RegDB")
    b = build_stream("unsupervised:regdb", tmp_path)
    assert set(b.train_stream[0].dataset.targets) == {-1} and b.protocol["regdb"] == "regdb"
    with pytest.raises(ConfigError, match="unsupervised streams are for"):
        build_stream("unsupervised:market1501", tmp_path)


def test_the_readme_experiment_that_builds_a_named_stream_runs(data_root):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "duke-to-market" in b)
    namespace: dict = {}
    exec(code, namespace)
    config = namespace["config"]
    config.data_root = str(data_root)
    b = namespace["stream"](config)
    assert b.train_domains == ["dukemtmc-reid", "market1501"] and b.unseen_domains == ["viper"]
