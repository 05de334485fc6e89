"""Stream builders: Avalanche benchmarks with per-experience labels and query/gallery per domain."""
from __future__ import annotations

import pytest
from avalanche.benchmarks.scenarios.generic_scenario import CLScenario
from avalanche.benchmarks.utils import AvalancheDataset

from lifelong_reid.data import build_transforms
from lifelong_reid.streams import lifelong_stream, static_stream, synthetic_lifelong_stream
from lifelong_reid.synthetic import synthetic_domain


def test_lifelong_stream_orders_domains_and_relabels_per_experience():
    tf = build_transforms((64, 32))
    a = synthetic_domain("A", 1, num_train_ids=4, num_test_ids=2, num_cameras=2, images_per_camera=2)
    b = synthetic_domain("B", 2, num_train_ids=3, num_test_ids=2, num_cameras=2, images_per_camera=2)
    u = synthetic_domain("U", 3, num_train_ids=0, num_test_ids=2, num_cameras=2, images_per_camera=2)
    bm = lifelong_stream([b, a], [u], transforms=tf, name="b>a")
    assert isinstance(bm.scenario, CLScenario)
    assert bm.train_domains == ["B", "A"] and bm.eval_domains == ["B", "A", "U"]
    assert bm.seen_domains == ["B", "A"] and bm.unseen_domains == ["U"]
    assert len(bm.train_stream) == 2 and len(bm.scenario.query_stream) == 3
    for exp, dom in zip(bm.train_stream, (b, a)):
        ds = exp.dataset
        assert isinstance(ds, AvalancheDataset)
        assert sorted(ds.targets.uniques) == list(range(len({s.pid for s in dom.train})))
        assert sorted(set(ds.pids)) == sorted({s.pid for s in dom.train})  # original pids kept
        x, target, pid, camid, index, meta = ds[0]
        assert x["image"].shape == (3, 64, 32) and pid == dom.train[0].pid  # synthetic samples carry part boxes
        assert x["part_boxes"].shape == (3, 4) and meta["domain"] == dom.name
    names = [name for name, q, g in bm.eval_sets()]
    assert names == ["B", "A", "U"]


def test_static_stream_is_one_experience():
    d = synthetic_domain("S", 0, num_train_ids=3, num_test_ids=2, num_cameras=2, images_per_camera=2)
    bm = static_stream(d)
    assert len(bm.train_stream) == 1 and bm.eval_domains == ["S"] and bm.unseen_domains == []


def test_synthetic_stream_names_and_sizes():
    bm = synthetic_lifelong_stream(3, 2, num_train_ids=2, num_test_ids=2, num_cameras=2, images_per_camera=2)
    assert bm.train_domains == ["synth1", "synth2", "synth3"]
    assert bm.unseen_domains == ["synth-unseen1", "synth-unseen2"]


def test_duplicate_domain_names_are_refused():
    d = synthetic_domain("S", 0, num_train_ids=3, num_test_ids=2, num_cameras=2, images_per_camera=2)
    from lifelong_reid.errors import DatasetLayoutError
    with pytest.raises(DatasetLayoutError, match="repeated: \\['S'\\]"):
        lifelong_stream([d, d])


def test_single_camera_evaluation_domain_is_refused_before_training(tmp_path):
    from PIL import Image
    root = tmp_path / "cam0"
    root.mkdir()
    rows = ["path,pid,camid,split"]
    for i, split in enumerate(["train", "train", "query", "gallery"]):
        Image.new("RGB", (8, 16)).save(root / f"{i}.jpg")
        rows.append(f"{i}.jpg,{1 if split != 'train' else 2},0,{split}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    from lifelong_reid.data import read_manifest
    from lifelong_reid.errors import DatasetLayoutError
    from lifelong_reid.streams import static_stream
    with pytest.raises(DatasetLayoutError, match="no query has a gallery image of its identity from another camera"):
        static_stream(read_manifest(root))


def test_single_camera_domain_is_accepted_with_its_protocol(tmp_path):
    from PIL import Image
    from lifelong_reid.data import read_manifest
    root = tmp_path / "onecam"
    root.mkdir()
    rows = ["path,pid,camid,split"]
    for i, (pid, split) in enumerate([(2, "train"), (2, "train"), (1, "query"), (1, "gallery")]):
        Image.new("RGB", (8, 16)).save(root / f"{i}.jpg")
        rows.append(f"{i}.jpg,{pid},0,{split}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    d = read_manifest(root)
    d.protocol = "single_camera"
    assert static_stream(d).protocol == {"onecam": "single_camera"}
