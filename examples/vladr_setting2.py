"""VLADR (CVPR 2026) on lifelong ReID Setting 2: LPW -> MSMT17 -> Market-1501 -> CUHK-SYSU -> CUHK03, unseen
CUHK01, CUHK02, GRID, SenseReID, VIPeR, i-LIDS, PRID; 500 identities per domain; ViT-B-16 ``openai`` weights.

    lreid run examples/vladr_setting2.py --data-root DATA --device cuda    # the real setting (GPU)
    lreid run examples/vladr_setting2.py --synthetic                       # offline: synthetic Setting 1 stream (the offline stand-in), tiny model, CPU

Without the datasets the run stops before training with ``lreid datasets check DATA --stream lreid-setting2``.
Captions: the samples' ``caption`` (attach a BLIP captions JSON written by ``lreid caption`` with
``--set extra.captions=PATH``; the synthetic stream carries its own).
"""
from lifelong_reid import RunConfig
from lifelong_reid.plugins.vladr import VLADRConfig, VLADRPlugin
from lifelong_reid.plugins.vladr.example import real_stream, synthetic_defaults, synthetic_stream

STREAM = "lreid-setting2"

config = RunConfig(
    name="vladr-setting2",
    model="ViT-B-16", pretrained="openai", image_size=[256, 128], stride=16,
    epochs=60, lr=5e-6, optimizer="adam", weight_decay=1e-4, warmup_epochs=10, milestones=[30, 50],
    batch_p=16, batch_k=4, lr_mults={"classifier": 10.0}, amp="fp16", device="auto",
)
plugins = [VLADRPlugin(VLADRConfig(stage1_epochs=120))]


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream(STREAM, config)
