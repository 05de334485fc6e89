"""Quickstart: a lifelong stream of 3 synthetic domains (+1 unseen), a tiny CLIP model, CPU, no downloads.

    lreid run examples/quickstart.py

Prints the accuracy matrix and the seen (anti-forgetting) / unseen (generalisation) averages, and writes
runs/quickstart-seed0/ (results.json, run.log, checkpoints/).
"""
from lifelong_reid import RunConfig
from lifelong_reid.data import build_transforms
from lifelong_reid.streams import synthetic_lifelong_stream

config = RunConfig(
    name="quickstart",
    model="lreid-tiny-vit", pretrained=None,  # bundled tiny open_clip config, random init
    image_size=[128, 64],
    epochs=12, lr=3e-4, weight_decay=1e-4, warmup_epochs=1, milestones=[9],
    batch_p=8, batch_k=4, bias_lr_mult=1.0,
    device="cpu",
)


def stream(config):
    return synthetic_lifelong_stream(num_domains=3, num_unseen=1, seed=config.seed, num_train_ids=60,
                                     transforms=build_transforms(config.image_size, pad=4))
