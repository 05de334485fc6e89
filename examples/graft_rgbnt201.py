"""GraFT on RGBNT201 (people, RGB/NIR/TIR) with the recipe of ``graft_rgbnt100.py`` at 256x128, 16 x 4 batches.

    lreid run examples/graft_rgbnt201.py --data-root DATA --device cuda
    lreid run examples/graft_rgbnt201.py --synthetic      # offline: synthetic RGB/NIR/TIR tuples, tiny model, CPU

Without the dataset the run stops before training with the ``lreid datasets check DATA --stream
supervised:rgbnt201`` report.
"""
from lifelong_reid.plugins.graft.example import paper_config, real_stream, synthetic_defaults, synthetic_stream

config = paper_config("graft-rgbnt201", image_size=(256, 128), batch_p=16, batch_k=4)


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream("rgbnt201", config)
