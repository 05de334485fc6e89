"""FIRM on RegDB, unsupervised (training identities hidden): per-modality DBSCAN clusters matched across
modalities by optimal transport, an evolving multi-view cluster memory and vision-semantic prompt fusion on a CLIP
ViT-B-16 (the recipe in lifelong_reid.plugins.firm.example).

    lreid run examples/firm_regdb.py --data-root DATA --device cuda
    lreid run examples/firm_regdb.py --synthetic      # offline: the synthetic visible-infrared stream, tiny model, CPU

Without the dataset the run stops before training with the ``lreid datasets check DATA --stream
unsupervised:regdb`` report. The ablation rows are settings: ``--set firm.vspf=false``,
``firm.matching=hungarian|sinkhorn|emd``, ``firm.carry_over=false``, ``firm.ot_weighted=false``.
Evaluation: split 1 (the registry reads RegDB's first train/test split), visible -> thermal, and thermal -> visible under
``"reverse"`` in ``results.json``; RegDB papers train and average the 10 splits.
"""
from lifelong_reid.plugins.firm.example import paper_config, real_stream, synthetic_defaults, synthetic_stream

config = paper_config("regdb")


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream("regdb", config)
