"""The batch contract: ReIDBatch, collate, side information that follows the image's geometry."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lifelong_reid.data import ReIDBatch, ReIDDataset, Sample, build_transforms, collate_reid
from lifelong_reid.errors import ConfigError


def _image_with_box(box, size=(50, 100)):
    """A black W x H image with a white rectangle at ``box`` (x0, y0, x1, y1)."""
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    x0, y0, x1, y1 = box
    arr[y0:y1, x0:x1] = 255
    return Image.fromarray(arr)


def _bright_box(image: torch.Tensor) -> list[float]:
    """x0, y0, x1, y1 of the pixels brighter than the middle of the range (normalised CLIP input)."""
    ys, xs = torch.nonzero(image[0] > 0.5, as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def test_boxes_are_resized_and_flipped_with_the_image():
    box = (0, 0, 20, 20)
    s = Sample("a.jpg", 1, 0, "d", part_boxes={"head": box})
    train, _ = build_transforms((64, 32), flip=1.0, pad=0)
    ds = ReIDDataset([s], image_loader=lambda _: _image_with_box(box), transform=train)
    x = ds[0][0]
    # resize 50x100 -> 32x64 scales by 0.64; the flip maps x to 32 - x
    assert torch.allclose(x["part_boxes"][0], torch.tensor([32 - 12.8, 0.0, 32.0, 12.8]))
    assert torch.isnan(x["part_boxes"][1:]).all()  # no upper / legs box: NaN rows


@pytest.mark.parametrize("seed", range(5))
def test_boxes_and_masks_follow_random_pad_crop_and_flip(seed, tmp_path):
    box = (10, 30, 40, 70)
    mask = np.zeros((100, 50), dtype=np.uint8)
    mask[30:70, 10:40] = 2
    Image.fromarray(mask).save(tmp_path / "m.png")
    s = Sample("a.jpg", 1, 0, "d", part_boxes={"upper": box}, part_masks=str(tmp_path / "m.png"))
    train, _ = build_transforms((100, 50), flip=0.5, pad=10)  # no resize: pixel-exact
    ds = ReIDDataset([s], image_loader=lambda _: _image_with_box(box), transform=train)
    torch.manual_seed(seed)
    x = ds[0][0]
    seen = _bright_box(x["image"])
    assert x["part_boxes"][1].tolist() == pytest.approx(seen, abs=1e-4)
    ys, xs = torch.nonzero(x["part_masks"] == 2, as_tuple=True)
    assert [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1] == seen


def test_tuples_share_or_draw_their_own_augmentation():
    img = _image_with_box((0, 0, 20, 100))  # left stripe: a flip moves it
    shared, _ = build_transforms((100, 50), flip=0.5, pad=0, per_modality="shared")
    independent, _ = build_transforms((100, 50), flip=0.5, pad=0, per_modality="independent")
    torch.manual_seed(0)
    assert all(torch.equal(t[0], t[1]) and torch.equal(t[0], t[2]) for t in (shared([img] * 3) for _ in range(10)))
    torch.manual_seed(0)
    outs = [independent([img] * 3) for _ in range(10)]
    assert any(not torch.equal(t[0], t[1]) for t in outs)
    with pytest.raises(ConfigError, match="per_modality"):
        build_transforms((64, 32), per_modality="sometimes")


def test_collate_builds_the_batch_with_meta_and_side_information():
    samples = [Sample(f"{i}.jpg", i, i % 2, "dom", caption=f"person {i}",
                      attributes={"upper": "red" if i else "blue", "bag": "yes"} if i < 2 else None)
               for i in range(3)]
    _, tf = build_transforms((64, 32))
    ds = ReIDDataset(samples, image_loader=lambda _: Image.new("RGB", (32, 64)), targets=[0, 1, 2], transform=tf)
    assert ds.attribute_vocab == {"bag": ["yes"], "upper": ["blue", "red"]}
    b = collate_reid([ds[i] for i in range(3)])
    assert isinstance(b, ReIDBatch) and len(b) == 3 and b.num_modalities == 1
    assert b.targets.tolist() == [0, 1, 2] and b.pids.tolist() == [0, 1, 2] and b.camids.tolist() == [0, 1, 0]
    assert b.domain == ["dom"] * 3 and b.modality == ["rgb"] * 3
    assert b.side["captions"] == ["person 0", "person 1", "person 2"]
    assert b.side["attribute_ids"].tolist() == [[0, 0], [0, 1], [-1, -1]]
    assert b["targets"] is b.targets and b["captions"] == b.side["captions"]  # the 0.x access form
    assert "Unknown" not in b.describe() and b.describe().startswith("ReIDBatch(B=3, images=(3, 3, 64, 32)")
    with pytest.raises(KeyError, match="ReIDBatch has no 'nope'"):
        b["nope"]
    moved = b.to("cpu")
    assert torch.equal(moved.images, b.images) and moved.side["captions"] == b.side["captions"]


def test_a_batch_mixing_items_with_and_without_geometry_is_refused():
    _, tf = build_transforms((64, 32))
    img = Image.new("RGB", (32, 64))
    with_box = ReIDDataset([Sample("a.jpg", 1, 0, "d", part_boxes={"head": (0, 0, 4, 4)})], lambda _: img, transform=tf)
    plain = ReIDDataset([Sample("b.jpg", 2, 0, "d")], lambda _: img, transform=tf)
    with pytest.raises(ValueError, match="mixes items"):
        collate_reid([with_box[0], plain[0]])


def test_training_batches_carry_part_boxes_only_when_a_plugin_declares_them():
    from lifelong_reid import hookimpl
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager, register
    from lifelong_reid.strategy import ReIDStrategy
    from lifelong_reid.testing import tiny_config, tiny_stream

    class Reader:
        def __init__(self, declare):
            self.side_info = ("part_boxes",) if declare else ()
            self.seen = []

        @hookimpl
        def lreid_extra_losses(self, batch):
            self.seen.append(sorted(batch.side))

    for declare in (False, True):
        cfg = tiny_config()
        reader = Reader(declare)
        pm = get_plugin_manager()
        register(pm, reader, name="reader")
        ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False).train(tiny_stream(cfg).train_stream[0])
        expected = ["attribute_ids", "attributes", "captions"] + (["part_boxes"] if declare else [])
        assert reader.seen and all(keys == sorted(expected) for keys in reader.seen)
