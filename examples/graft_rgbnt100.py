"""GraFT (gradual fusion transformer) on RGBNT100 (vehicles, RGB/NIR/TIR), the paper's recipe on a CLIP
ViT-B-16 backbone at 128x256: 40 epochs with the shared backbone frozen, then 60 with it trained.

    lreid run examples/graft_rgbnt100.py --data-root DATA --device cuda
    lreid run examples/graft_rgbnt100.py --synthetic      # offline: synthetic RGB/NIR/TIR tuples, tiny model, CPU

Without the dataset the run stops before training with the ``lreid datasets check DATA --stream
supervised:rgbnt100`` report. ``--set graft.combo=fff`` is the standard triplet (Table 8's rows);
``--set graft.separate_encoders=false`` shares the modality encoders' weights.
"""
from lifelong_reid.plugins.graft.example import paper_config, real_stream, synthetic_defaults, synthetic_stream

config = paper_config("graft-rgbnt100", image_size=(128, 256), batch_p=8, batch_k=4)


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream("rgbnt100", config)
