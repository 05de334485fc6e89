"""Supervised training on the real market1501-mini images (Market-1501 layout), evaluated on its real
query/gallery with the Market-1501 protocol.

    lreid run examples/market1501_mini.py --data-root ../shared/data

Offline, it uses the bundled tiny model from random initialisation. With CLIP weights (a GPU is advised):

    lreid run examples/market1501_mini.py --data-root DATA --set model=ViT-B-16 --set pretrained=openai \
        --set image_size=[256,128] --set lr=5e-6 --epochs 60 --device cuda
"""
from pathlib import Path

from lifelong_reid import RunConfig
from lifelong_reid.data import build_transforms, read_market1501
from lifelong_reid.errors import ConfigError
from lifelong_reid.streams import static_stream

config = RunConfig(
    name="market1501_mini",
    model="lreid-tiny-vit", pretrained=None,
    image_size=[128, 64],
    epochs=30, lr=3e-4, warmup_epochs=2, milestones=[20], bias_lr_mult=1.0,
    batch_p=16, batch_k=4,
    device="auto",
)


def stream(config):
    if config.data_root is None:
        raise ConfigError("this experiment reads market1501-mini: pass --data-root (e.g. ../shared/data)")
    market = read_market1501(Path(config.data_root) / "market1501-mini", name="market1501")
    return static_stream(market, transforms=build_transforms(config.image_size, pad=4,
                                                             random_erasing=config.random_erasing))
