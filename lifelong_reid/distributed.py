"""Several processes (GPUs, or CPU processes with gloo) through ``torchrun``, without changing a run's results
beyond floating-point rounding.

``torchrun --nproc_per_node N -m lifelong_reid.cli run EXPERIMENT.py ...`` (or ``lreid run --nproc N``) starts
``N`` copies of the run; :func:`init_distributed` joins them into one process group (NCCL on CUDA, gloo on
CPU). The strategy then

- draws the same global P x K batch on every rank and gives each rank ``P / N`` of its identities (all ``K``
  images of each), so a rank's batch is balanced like the global one;
- averages the gradients over ranks after every backward pass (:func:`average_gradients`: the reduction
  ``DistributedDataParallel`` performs, which cannot be used as such because plugins compute losses from
  parameters outside the model's forward) and gives every rank rank 0's buffers after each step, and computes
  the batch-hard triplet loss on the features of all ranks (gathered with autograd, as fast-reid does), so
  that the averaged gradient is the gradient of the global batch's loss;
- normalises BNNeck with the statistics of the global batch (:func:`sync_batch_stats`);
- extracts features for evaluation and for plugins (``strategy.embed``) on a contiguous shard per rank and
  gathers them, so every rank sees every feature in dataset order; pseudo-labels from
  ``lreid_assign_targets`` are taken from rank 0 and broadcast;
- stops every rank together on a non-finite loss.

Only rank 0 writes files (checkpoints, ``results.json``, reports, logs) and prints. When one rank dies,
``torchrun`` stops the others; the checkpoints written so far are intact (they are written atomically).
Outside ``torchrun`` every function here is the identity of the single-process case.
"""
from __future__ import annotations

import datetime
import os
import warnings
from typing import Optional

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` when no process group is initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_distributed() -> bool:
    """Whether several processes run together."""
    return world()[1] > 1


def is_main() -> bool:
    """Whether this process writes files and prints (rank 0)."""
    return world()[0] == 0


def launched_by_torchrun() -> bool:
    """Whether ``torchrun`` started this process as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: str = "auto") -> bool:
    """Join the ``torchrun`` process group (NCCL when ``device`` is CUDA, else gloo); returns whether the run
    is distributed. On CUDA each process uses GPU ``LOCAL_RANK``."""
    if not launched_by_torchrun():
        return False
    if not dist.is_initialized():
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    return True


def local_device(device: torch.device) -> torch.device:
    """``device`` with the CUDA index of this process (``LOCAL_RANK``) under ``torchrun``."""
    if device.type == "cuda" and is_distributed():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def barrier() -> None:
    """Wait for every rank (nothing when not distributed)."""
    if is_distributed():
        dist.barrier()


def all_gather_cat(t: torch.Tensor) -> torch.Tensor:
    """``(N_r, ...)`` on every rank -> ``(sum N_r, ...)`` on every rank, rank 0's rows first (sizes may differ;
    no gradient)."""
    if not is_distributed():
        return t
    rank, size = world()
    sizes = [torch.zeros(1, dtype=torch.long, device=t.device) for _ in range(size)]
    dist.all_gather(sizes, torch.tensor([t.shape[0]], dtype=torch.long, device=t.device))
    sizes = [int(s) for s in sizes]
    padded = torch.zeros((max(sizes), *t.shape[1:]), dtype=t.dtype, device=t.device)
    padded[:t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:n] for p, n in zip(parts, sizes)])


def all_gather_objects(obj) -> list:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` when not distributed."""
    if not is_distributed():
        return [obj]
    out = [None] * world()[1]
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_with_grad(t: torch.Tensor) -> torch.Tensor:
    """``(B, ...)`` per rank (same ``B`` on every rank) -> ``(W * B, ...)``, rank order, with gradients flowing
    back to each rank's own rows (``torch.distributed.nn.functional.all_gather``)."""
    if not is_distributed():
        return t
    with warnings.catch_warnings():  # deprecated in favour of a private module; still the public autograd op
        warnings.simplefilter("ignore", FutureWarning)
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(t.contiguous()))


def all_reduce_sum(t: torch.Tensor, grad: bool = False) -> torch.Tensor:
    """Sum of ``t`` over ranks (a copy); with ``grad``, differentiable."""
    if not is_distributed():
        return t
    if grad:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            from torch.distributed.nn.functional import all_reduce

            return all_reduce(t)
    t = t.clone()
    dist.all_reduce(t)
    return t


def average_gradients(params) -> None:
    """Replace each parameter's gradient by its mean over the ranks (one all-reduce per dtype and device); a
    parameter without a gradient on every rank keeps none, so the optimizer skips it as one process would.

    This is the reduction ``DistributedDataParallel`` performs, done after the backward pass instead of
    during it: plugins compute losses from parameters outside the model's forward (prompts, text encoders,
    memories), which DDP's reducer does not allow.
    """
    params = [p for p in dict.fromkeys(params) if p.requires_grad]
    if not is_distributed() or not params:
        return
    size = world()[1]
    device = params[0].device
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    dist.all_reduce(has)
    groups: dict = {}
    for p, n in zip(params, has.tolist()):
        if n > 0:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            groups.setdefault((p.grad.dtype, p.grad.device), []).append(p)
    for members in groups.values():
        flat = torch.cat([p.grad.reshape(-1) for p in members])
        dist.all_reduce(flat)
        flat /= size
        offset = 0
        for p in members:
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics, ...)."""
    if not is_distributed():
        return
    for b in module.buffers():
        dist.broadcast(b.data, src=0)


def shard(n: int) -> range:
    """This rank's contiguous share of ``range(n)`` (the first ``n % W`` ranks get one more)."""
    rank, size = world()
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def sync_batch_stats(x: torch.Tensor) -> Optional[tuple[torch.Tensor, torch.Tensor, int]]:
    """``(mean, biased variance, count)`` of ``(B, C)`` ``x`` over the batches of every rank (differentiable),
    or ``None`` when not distributed: what a synchronised BatchNorm1d normalises with."""
    if not is_distributed():
        return None
    count = all_reduce_sum(torch.tensor([x.shape[0]], dtype=torch.float64, device=x.device))
    n = float(count)
    total = all_reduce_sum(x.sum(0), grad=True)
    mean = total / n
    var = all_reduce_sum(((x - mean) ** 2).sum(0), grad=True) / n
    return mean, var, int(n)
