"""Several processes on one machine, offline: the synthetic lifelong stream with deterministic transforms (no
random flip or crop), so that N processes can be compared with one.

    lreid run examples/distributed_synthetic.py --nproc 2          # two CPU processes (gloo), or two GPUs
    torchrun --standalone --nproc_per_node 2 -m lifelong_reid.cli run examples/distributed_synthetic.py

The global batch stays P x K = 8 x 4; each process trains on 8 / N of its identities. benchmarks/distributed.py
times 1 and 2 processes and compares their results.
"""
from lifelong_reid.data import build_transforms
from lifelong_reid.streams import synthetic_lifelong_stream
from lifelong_reid.testing import tiny_config

config = tiny_config(name="distributed-synthetic", epochs=4, batch_p=8, batch_k=4, device="auto")


def stream(config):
    return synthetic_lifelong_stream(3, 1, seed=config.seed, num_train_ids=24, num_test_ids=24, num_cameras=2,
                                     images_per_camera=3,
                                     transforms=build_transforms(config.image_size, flip=0.0, pad=0))
