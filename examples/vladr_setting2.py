"""VLADR (CVPR 2026) on lifelong ReID Setting 2: LPW -> MSMT17 -> Market-1501 -> CUHK-SYSU -> CUHK03, unseen
CUHK01, CUHK02, GRID, SenseReID, VIPeR, i-LIDS, PRID; 500 identities per domain; ViT-B-16 ``openai`` weights
with the official code's settings (``paper_config``).

    lreid run examples/vladr_setting2.py --data-root DATA --device cuda    # the real setting (GPU)
    lreid run examples/vladr_setting2.py --synthetic                       # offline: synthetic Setting 1, tiny model, CPU
    lreid run examples/vladr_setting2.py --synthetic --set weights=$(lreid synthetic-clip)  # + a synthetic CLIP prior

Without the datasets the run stops before training with ``lreid datasets check DATA --stream lreid-setting2``.
Captions: the samples' ``caption`` (attach a BLIP captions JSON written by ``lreid caption`` with
``--set extra.captions=PATH``; the synthetic stream carries its own).
"""
from lifelong_reid.plugins.vladr.example import paper_config, real_stream, synthetic_defaults, synthetic_stream

config = paper_config("vladr-setting2")


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream("lreid-setting2", config)
