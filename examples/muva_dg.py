"""MUVA (multi-grained vision-language DG ReID) with the paper's recipe on a DG protocol: ViT-B-16 ``openai``,
stage 1 120 epochs, stage 2 60 epochs, 16 x 4 batches, no pad / crop / erasing.

    lreid run examples/muva_dg.py --data-root DATA --device cuda --set extra.protocol=dg:MS->MA \\
        --set extra.part_boxes=boxes.json            # boxes: lreid ground DATA/MSMT17_V1/train --output boxes.json
    lreid run examples/muva_dg.py --data-root DATA --set extra.protocol=dg-loo:C3   # multi-source leave-one-out
    lreid run examples/muva_dg.py --synthetic        # offline: synthetic leave-one-out DG, tiny model, CPU, minutes

Protocols: ``dg:A->B`` (single source) and ``dg-loo:B`` (the other three sources) over MA (Market-1501),
D (DukeMTMC-reID), MS (MSMT17), C3 (CUHK03-NP detected). Without the datasets the run stops before training
with the ``lreid datasets check DATA --stream PROTOCOL`` report. Without part boxes the run stops too; add
``--set muva.masks=stripes`` for the fixed-stripe variant (Table 8), or ``--set muva.missing_boxes=stripes``.
Ablation rows: ``--set muva.parts=[head]`` (Table 5), ``--set muva.masks=none``, ``--set muva.imp=false``, ...
(``benchmarks/muva_ablation.py`` runs them all on the synthetic setting).
"""
from lifelong_reid.plugins.muva.example import paper_config, real_stream, synthetic_defaults, synthetic_stream

config = paper_config("muva-dg")


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream(config)
