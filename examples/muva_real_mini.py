"""MUVA on real images, offline: market1501-mini as the source, cuhk03-mini as the unseen target (from
../shared/data), tiny model, CPU, fixed-stripe part masks (no grounding boxes exist offline).

    lreid run examples/muva_real_mini.py --data-root ../shared/data
    lreid run examples/muva_real_mini.py --data-root ../shared/data --block muva     # the CLIP-ReID baseline

The baseline is the same run without the plugin (identity + triplet losses on CLIP-ReID's heads), on the same
split and seeds. With grounding boxes (``lreid ground ../shared/data/market1501-mini/bounding_box_train
--output boxes.json``) add ``--set extra.part_boxes=boxes.json --set muva.masks=ammsa``.
"""
from pathlib import Path

from lifelong_reid import RunConfig
from lifelong_reid.data import build_transforms, read_domain
from lifelong_reid.streams.lifelong import lifelong_stream

config = RunConfig(
    name="muva-real-mini",
    model="lreid-tiny-vit", pretrained=None, image_size=[128, 64],
    epochs=20, lr=3e-4, warmup_epochs=2, milestones=[15], batch_p=8, batch_k=4, bias_lr_mult=1.0,
    device="cpu",
    plugins={"muva": {"stage1_epochs": 10, "masks": "stripes", "rmp_heads": 2}},
)


def stream(config):
    root = Path(config.data_root or "../shared/data")
    market = read_domain("market1501-mini", root)
    cuhk03 = read_domain("cuhk03-mini", root)
    boxes = config.extra.get("part_boxes")
    if boxes:
        from lifelong_reid.data.side_info import attach_side_info, load_part_boxes

        market = attach_side_info(market, part_boxes=load_part_boxes(boxes))
    # MUVA's augmentation (resize + flip, Table 11) for both rows, so that only the method differs
    return lifelong_stream([market], [cuhk03], transforms=build_transforms(config.image_size, pad=0),
                           name="market1501-mini->cuhk03-mini")
