"""MambaPro on MSVR310 (RGB/NIR/TIR tuples): the public code's recipe on a frozen CLIP ViT-B-16 with parallel
feed-forward adapters, synergistic residual prompts and Mamba aggregation.

    lreid run examples/mambapro_msvr310.py --data-root DATA --device cuda
    lreid run examples/mambapro_msvr310.py --synthetic      # offline: synthetic RGB/NIR/TIR tuples, tiny model, CPU

Without the dataset the run stops before training with the ``lreid datasets check DATA --stream
supervised:msvr310`` report. ``--set mambapro.ma=false`` (and ``pfa``, ``srp``) are the ablation's rows; the
selective scan uses mamba_ssm's CUDA kernel when it is installed (``pip install 'lifelong-reid[gpu]'``) and
mambapy's PyTorch scan otherwise.
"""
from lifelong_reid.plugins.mambapro.example import paper_config, real_stream, synthetic_defaults, synthetic_stream

config = paper_config("msvr310")


def synthetic_config(config):
    return synthetic_defaults(config)


def stream(config):
    return synthetic_stream(config) if config.extra.get("synthetic") else real_stream("msvr310", config)
