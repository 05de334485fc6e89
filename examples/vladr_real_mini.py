"""VLADR on real images, offline: market1501-mini -> cuhk03-mini (from ../shared/data), tiny model, CPU.

    lreid run examples/vladr_real_mini.py --data-root ../shared/data

Captions for Market-1501 come from its identity attributes (Market-1501_Attribute, under
``attributes/`` of the data root) turned into sentences; CUHK03 has no attribute file, so its images get a
generic caption (``missing_captions="generic"``). On a GPU with the real weights:
``--device cuda --set model=ViT-B-16 --set pretrained=openai --set image_size=[256,128] --set lr=5e-6``.
"""
from pathlib import Path

from lifelong_reid import RunConfig
from lifelong_reid.data import build_transforms, read_domain
from lifelong_reid.data.side_info import attach_side_info, captions_from_attributes, load_identity_attributes
from lifelong_reid.streams.lifelong import lifelong_stream

config = RunConfig(
    name="vladr-real-mini",
    model="lreid-tiny-vit", pretrained=None, image_size=[128, 64],
    epochs=20, lr=3e-4, warmup_epochs=2, milestones=[15], batch_p=8, batch_k=4, bias_lr_mult=1.0,
    device="cpu",
    plugins={"vladr": {"stage1_epochs": 10, "missing_captions": "generic"}},
)


def stream(config):
    root = Path(config.data_root or "../shared/data")
    market = read_domain("market1501-mini", root)
    attrs = load_identity_attributes(root / "attributes" / "Market-1501_Attribute" / "market_attribute.mat")
    market = captions_from_attributes(attach_side_info(market, attributes=attrs))
    cuhk03 = read_domain("cuhk03-mini", root)
    return lifelong_stream([market, cuhk03], transforms=build_transforms(config.image_size, pad=4),
                           name="market1501-mini->cuhk03-mini")
