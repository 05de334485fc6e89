"""VLADR on real images, offline: market1501-mini -> cuhk03-mini (from ../shared/data), tiny model, CPU.

    lreid run examples/vladr_real_mini.py --data-root ../shared/data
    lreid run examples/vladr_real_mini.py --data-root ../shared/data \
        --set vladr.mtad=false --set vladr.caption_parts=true --set vladr.num_attributes=4   # t_k from the parts
    lreid run examples/vladr_real_mini.py --data-root ../shared/data --set vladr.preset=official \
        --set classifier=grow --set neck_feat=after --set eval_metric=euclidean --set label_smoothing=0 \
        --set triplet_margin=null                                    # the released recipe, scaled to the CPU

Market-1501's captions are the VLADR release's BLIP-2 descriptions of every market1501-mini training image
(``captions/market1501-mini/blip2_parts.json`` under the data root: head, upper, lower and foot sentences);
by default the paper's learnt attribute prompts read their join, and with ``caption_parts`` each attribute's
text feature is that of its own part sentence, as the released code computes it. CUHK03 has no released
description in this layout, so its images get generic captions (``missing_captions="generic"``). With the
``official`` preset the images are normalised with ImageNet's statistics and erased twice, as the release's.
``python benchmarks/vladr_real_mini.py`` compares the presets over seeds. On a GPU with
the real weights: ``--device cuda --set model=ViT-B-16 --set pretrained=openai --set image_size=[256,128]
--set lr=5e-6``.
"""
from pathlib import Path

from lifelong_reid import RunConfig
from lifelong_reid.data import read_domain
from lifelong_reid.data.side_info import attach_side_info, load_captions, require_side_file
from lifelong_reid.plugins.vladr.example import transforms
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
    blip2 = require_side_file(root / "captions" / "market1501-mini" / "blip2_parts.json", "vladr", "captions",
                              "the VLADR release's BLIP-2 part captions, see ../shared/data/README.md")
    market = attach_side_info(market, captions=load_captions(blip2))
    cuhk03 = read_domain("cuhk03-mini", root)
    return lifelong_stream([market, cuhk03], transforms=transforms(config, pad=4),
                           name="market1501-mini->cuhk03-mini")
