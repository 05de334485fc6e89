"""The synthetic generator: deterministic, annotated, learnable-looking, writable in Market layout."""
from __future__ import annotations

import numpy as np

from lifelong_reid.data import read_market1501
from lifelong_reid.synthetic import SyntheticDomain
from lifelong_reid.synthetic.attributes import VOCABULARY


def pixels(domain, sample):
    return np.asarray(domain.image_loader(sample), dtype=np.float32)


def test_same_seed_gives_identical_images_and_other_seeds_differ():
    a, b, c = SyntheticDomain("d", 3, 4, 2), SyntheticDomain("d", 3, 4, 2), SyntheticDomain("d", 4, 4, 2)
    da, db, dc = a.build(), b.build(), c.build()
    assert np.array_equal(pixels(a, da.train[5]), pixels(b, db.train[5]))
    assert not np.array_equal(pixels(a, da.train[5]), pixels(c, dc.train[5]))
    assert da.train == db.train


def test_splits_cameras_and_annotations():
    dom = SyntheticDomain("d", 0, num_train_ids=5, num_test_ids=4, num_cameras=3, images_per_camera=3)
    d = dom.build()
    assert len(d.train) == 5 * 3 * 3 and len(d.query) == 4 * 3 and len(d.gallery) == 4 * 3 * 2
    assert {s.pid for s in d.train}.isdisjoint({s.pid for s in d.query})
    s = d.train[0]
    assert set(s.attributes) == set(VOCABULARY)
    assert s.caption.startswith("A ") and s.attributes["upper_color"] in s.caption
    head, upper, legs = (s.part_boxes[k] for k in ("head", "upper", "legs"))
    assert head[1] < upper[1] < legs[1] <= 128 and all(0 <= v <= 128 for v in (*head, *upper, *legs))
    img = dom.image_loader(s)
    assert img.size == (64, 128) and img.mode == "RGB"


def test_identities_differ_more_across_ids_than_across_views():
    """The generator must be learnable: images of one identity are closer (in raw pixels, same camera)
    than images of two identities."""
    dom = SyntheticDomain("d", 1, num_train_ids=20, num_test_ids=0, num_cameras=2, images_per_camera=2)
    d = dom.build()
    by_id = {}
    for s in d.train:
        by_id.setdefault(s.pid, []).append(pixels(dom, s).mean(axis=(0, 1)))  # colour histogram proxy
    within = np.mean([np.abs(v[0] - v[1]).mean() for v in by_id.values()])
    means = np.array([v[0] for v in by_id.values()])
    between = np.mean(np.abs(means[:, None] - means[None]).mean(-1)[~np.eye(len(means), dtype=bool)])
    assert within < between


def test_save_writes_a_market_layout_the_reader_accepts(tmp_path):
    dom = SyntheticDomain("d", 2, num_train_ids=3, num_test_ids=2, num_cameras=2, images_per_camera=2)
    dom.save(tmp_path / "synth")
    d = read_market1501(tmp_path / "synth")
    built = dom.build()
    assert (len(d.train), len(d.query), len(d.gallery)) == (len(built.train), len(built.query), len(built.gallery))
    assert sorted({s.pid for s in d.train}) == [1, 2, 3]


def test_domain_pickles_for_dataloader_workers():
    import pickle
    dom = SyntheticDomain("d", 5, num_train_ids=2, num_test_ids=1)
    s = dom.build().train[0]
    clone = pickle.loads(pickle.dumps(dom))
    assert np.array_equal(pixels(dom, s), pixels(clone, s))
