"""FIRM on LLCM, unsupervised (training identities hidden): per-modality DBSCAN clusters matched across
modalities by optimal transport, an evolving multi-view cluster memory and vision-semantic prompt fusion on a CLIP
ViT-B-16 (the recipe in lifelong_reid.plugins.firm.example).

    lreid run examples/firm_llcm.py --data-root DATA --device cuda
    lreid run examples/firm_llcm.py --synthetic      # offline: the synthetic visible-infrared stream, tiny model, CPU

Without the dataset the run stops before training with the ``lreid datasets check DATA --stream
unsupervised:llcm`` report. The ablation rows are settings: ``--set firm.vspf=false``,
``firm.matching=hungarian|sinkhorn|emd``, ``firm.carry_over=false``, ``firm.ot_weighted=false``.
Evaluation: infrared -> visible and visible -> infrared (under ``"reverse"``), each over 10 galleries of one image
per identity and camera.
"""
from lifelong_reid.plugins.firm.example import paper_config, real_stream, synthetic_defaults, synthetic_stream

config = paper_config("llcm")


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream("llcm", config)
