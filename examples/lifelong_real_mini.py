"""A 2-experience lifelong stream on real images: market1501-mini (Market-1501 reader), then cuhk03-mini
(images + CSV manifest reader); both evaluated after each experience.

    lreid run examples/lifelong_real_mini.py --data-root ../shared/data
"""
from pathlib import Path

from lifelong_reid import RunConfig
from lifelong_reid.data import build_transforms, read_manifest, read_market1501
from lifelong_reid.errors import ConfigError
from lifelong_reid.streams import lifelong_stream

config = RunConfig(
    name="lifelong_real_mini",
    model="lreid-tiny-vit", pretrained=None,
    image_size=[128, 64],
    epochs=20, lr=3e-4, warmup_epochs=2, milestones=[15], bias_lr_mult=1.0,
    batch_p=8, batch_k=4,
    device="auto",
)


def stream(config):
    if config.data_root is None:
        raise ConfigError("this experiment reads market1501-mini and cuhk03-mini: pass --data-root "
                          "(e.g. ../shared/data)")
    root = Path(config.data_root)
    market = read_market1501(root / "market1501-mini", name="market1501")
    cuhk03 = read_manifest(root / "cuhk03-mini", "manifest.csv", name="cuhk03")
    return lifelong_stream([market, cuhk03], transforms=build_transforms(config.image_size, pad=4),
                           name="market1501-mini>cuhk03-mini")
