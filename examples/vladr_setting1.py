"""VLADR (CVPR 2026) on lifelong ReID Setting 1: Market-1501 -> CUHK-SYSU -> LPW -> MSMT17 -> CUHK03, unseen
CUHK01, CUHK02, GRID, SenseReID, VIPeR, i-LIDS, PRID; 500 identities per domain (the release's selection);
ViT-B-16 ``openai`` weights with the released code's recipe: the plugin's ``official`` preset and its run
settings (``official_config``), which is what the published figures were produced with.

    lreid run examples/vladr_setting1.py --data-root DATA --device cuda --set extra.captions=_BLIP_TEXT_DESC
    lreid run examples/vladr_setting1.py --synthetic                       # offline: synthetic Setting 1, tiny model, CPU
    lreid run examples/vladr_setting1_paper.py --data-root DATA --device cuda   # the paper's components instead

Captions: the release's BLIP-2 part captions, ``--set extra.captions=DIR`` with its ``_BLIP_TEXT_DESC`` folder
(one ``NAME_description.txt`` per training domain), or a captions JSON written by ``lreid caption --style
vladr``. Without the datasets the run stops before training with ``lreid datasets check DATA --stream
lreid-setting1``. Ablations: ``--set vladr.affinity_kl=false``, ``--set vladr.weight_interpolation=null``, ...
"""
from lifelong_reid.plugins.vladr.example import official_config, real_stream, synthetic_defaults, synthetic_stream

config = official_config("vladr-setting1")


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream("lreid-setting1", config)
