"""VLADR on lifelong ReID Setting 2 with the ``paper`` preset: the components as the paper describes them
(MTAD prompts, CMA as a distance, the attribute prototype memory and IDA) on CLIP-ReID's stage-2 training
(``paper_config``). ``examples/vladr_setting2.py`` runs the released code's recipe.

    lreid run examples/vladr_setting2_paper.py --data-root DATA --device cuda --set extra.captions=CAPTIONS.json
    lreid run examples/vladr_setting2_paper.py --synthetic
"""
from lifelong_reid.plugins.vladr.example import paper_config, real_stream, synthetic_defaults, synthetic_stream

config = paper_config("vladr-setting2-paper")


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream("lreid-setting2", config)
