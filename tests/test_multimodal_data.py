"""Multi-modal tuples: the RGBNT201 / RGBNT100 / MSVR310 readers on fixtures, tuples loaded with the same
augmentation on every modality, and a tiny model trained and evaluated end to end on synthetic tuples."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lifelong_reid.data import ReIDDataset, build_transforms, read_dataset
from lifelong_reid.data.modality_subset import parse_modalities, select_modalities
from lifelong_reid.data.sample import tuple_modalities
from lifelong_reid.errors import ConfigError, DatasetLayoutError
from lifelong_reid.strategy.reid_strategy import blank_modalities
from lifelong_reid.streams import build_stream

from dataset_fixtures import touch


def test_rgbnt201_pairs_the_three_modalities_by_file_name(tmp_path):
    for sub in ("train_171", "test"):
        for folder in ("RGB", "NI", "TI"):
            for name in ("000001_cam1_0_00.jpg", "000002_cam3_0_01.jpg"):
                touch(tmp_path / "RGBNT201" / sub / folder / name)
    d = read_dataset("rgbnt201", tmp_path)
    s = d.train[1]
    assert (s.pid, s.camid, s.modality) == (2, 2, "multi")
    assert [p.split("/")[-2] for p in s.image_paths()] == ["RGB", "NI", "TI"]
    assert d.query == d.gallery and len(d.query) == 2
    (tmp_path / "RGBNT201" / "test" / "TI" / "000002_cam3_0_01.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match="needs its NI and TI image"):
        read_dataset("rgbnt201", tmp_path)


def test_rgbnt100_splits_the_stitched_image_into_three(tmp_path):
    base = tmp_path / "RGBNT100" / "rgbir"
    img = np.zeros((20, 30, 3), np.uint8)
    img[:, 10:20] = 100
    img[:, 20:] = 200
    for sub in ("bounding_box_train", "query", "bounding_box_test"):
        (base / sub).mkdir(parents=True)
        Image.fromarray(img).save(base / sub / "0001_c1_0001.jpg")
        Image.fromarray(img).save(base / sub / "0001_c2_0002.jpg")
    d = read_dataset("rgbnt100", tmp_path)
    parts = d.image_loader(d.train[0])
    assert [p.size for p in parts] == [(10, 20)] * 3
    assert [int(np.asarray(p).mean()) for p in parts] == pytest.approx([0, 100, 200], abs=3)
    nt = select_modalities(d, "NT")  # the panels of the kept modalities only, in tuple order
    assert [int(np.asarray(p).mean()) for p in nt.image_loader(nt.train[0])] == pytest.approx([100, 200], abs=3)


def test_modality_subsets_are_parsed_and_checked():
    assert parse_modalities("RT") == parse_modalities("tir,rgb") == parse_modalities(["TIR", "rgb"]) == ("rgb", "tir")
    assert parse_modalities("nir") == ("nir",)
    for bad in ("", "RX", "RR", ["rgb", "ir"]):
        with pytest.raises(ConfigError, match="modalities"):
            parse_modalities(bad)
    d = build_stream("synthetic-multimodal", num_train_ids=2, num_test_ids=2).domains["synth-rgbnt"]
    rn = select_modalities(d, "RN")
    assert tuple_modalities(rn.train[0]) == ("rgb", "nir") and rn.train[0].path == d.train[0].path
    assert len(rn.image_loader(rn.train[0])) == 2 and len(rn.query) == len(d.query)
    with pytest.raises(DatasetLayoutError, match="has no tir image"):
        select_modalities(rn, "T")
    single = build_stream("synthetic-setting1", num_train_ids=2, num_test_ids=2).domains
    with pytest.raises(DatasetLayoutError, match="is not a multi-modal tuple"):
        select_modalities(next(iter(single.values())), "R")
    with pytest.raises(ConfigError, match="has none"):
        build_stream("synthetic-dg", modalities="R")


def test_blanking_follows_the_tuples_order():
    x = torch.zeros(2, 2, 3, 4, 4)
    out = blank_modalities(x, ("tir",), ("rgb", "tir"))
    assert torch.equal(out[:, 0], x[:, 0]) and (out[:, 1] < 0).all()
    with pytest.raises(ConfigError, match="the tuples hold rgb, tir"):
        blank_modalities(x, ("nir",), ("rgb", "tir"))
    with pytest.raises(ConfigError, match="2 modalities, not the 3"):
        blank_modalities(x, ("nir",))


def test_msvr310_reads_vis_ni_th_folders(tmp_path):
    for sub in ("bounding_box_train", "query3", "bounding_box_test"):
        for m in ("vis", "ni", "th"):
            touch(tmp_path / "MSVR310" / sub / "0007" / m / f"0007_s002_v003_001{'' if m == 'vis' else ''}.jpg"
                  .replace("vis", m))
    d = read_dataset("msvr310", tmp_path)
    s = d.query[0]
    assert (s.pid, s.camid) == (7, 2) and s.image_paths()[1].endswith("/ni/0007_s002_v003_001.jpg")


def test_tuple_augmentation_is_the_same_on_every_modality():
    train_tf, _ = build_transforms((64, 32), random_erasing=0.5)
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 64, 3), dtype=np.uint8))
    torch.manual_seed(3)
    x = train_tf([img, img, img])
    assert x.shape == (3, 3, 64, 32)
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


def test_tiny_model_trains_and_evaluates_on_synthetic_tuples(tmp_path):
    from lifelong_reid.testing import run_with_plugins, tiny_config

    b = build_stream("synthetic-multimodal", num_train_ids=6, num_test_ids=4, num_cameras=2, images_per_camera=2,
                     transforms=build_transforms((64, 32)))
    ds = ReIDDataset(b.domains["synth-rgbnt"].train, b.domains["synth-rgbnt"].image_loader,
                     transform=build_transforms((64, 32))[1])
    assert ds[0][0]["image"].shape == (3, 3, 64, 32)  # one tuple; its part boxes follow the first modality
    res = run_with_plugins([], tmp_path / "run", config=tiny_config(epochs=1), benchmark=b)
    assert res["complete"] and 0 < res["per_domain"]["synth-rgbnt"]["mAP"] <= 100


def test_tuple_forward_fuses_modalities():
    from lifelong_reid.models import build_model
    from lifelong_reid.testing import tiny_config

    model = build_model(tiny_config()).eval()
    model.reset_classifier(5)
    x = torch.randn(2, 3, 3, 64, 32)
    out = model(x)
    single = model(x[:, 1])
    d = single["feat"].shape[1]
    assert out["feat"].shape == (2, 3 * d) and out["modal_feat"].shape == (2, 3, d)
    assert torch.allclose(out["modal_feat"][:, 1], single["feat"], atol=1e-5)
    assert out["logits"].shape == (2, 5)


def test_model_level_missing_modality_evaluation(tmp_path):
    from lifelong_reid.data import ReIDDataset
    from lifelong_reid.evaluation.multimodal import evaluate_missing_modalities, model_level_embed
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager
    from lifelong_reid.strategy import ReIDStrategy
    from lifelong_reid.strategy.reid_strategy import blank_modalities
    from lifelong_reid.testing import tiny_config

    b = build_stream("synthetic-multimodal", num_train_ids=2, num_test_ids=4, num_cameras=2, images_per_camera=2)
    d = b.domains["synth-rgbnt"]
    _, eval_tf = build_transforms((64, 32))
    q, g = (ReIDDataset(x, d.image_loader, transform=eval_tf) for x in (d.query, d.gallery))
    cfg = tiny_config()
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=get_plugin_manager(), progress=False)
    res = evaluate_missing_modalities(model_level_embed(strategy, q, g), [s.pid for s in d.query],
                                      [s.pid for s in d.gallery], [s.camid for s in d.query],
                                      [s.camid for s in d.gallery])
    assert list(res)[:2] == ["all", "M (RGB)"] and len(res) == 7
    assert res["all"] != res["M (RGB)"]
    from lifelong_reid.evaluation import evaluate_strategy_missing_modalities

    assert evaluate_strategy_missing_modalities(strategy, q, g) == res  # one call, the same table
    x = torch.zeros(1, 3, 3, 4, 4)
    assert torch.equal(blank_modalities(x, ("nir",))[0, 0], x[0, 0])
    assert not torch.equal(blank_modalities(x, ("nir",))[0, 1], x[0, 1])
