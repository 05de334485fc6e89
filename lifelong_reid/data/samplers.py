"""Identity-balanced P x K batch sampling (Hermans et al., "In Defense of the Triplet Loss", 2017)."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from lifelong_reid.errors import ConfigError


class PKSampler(Sampler[list]):
    """Batches of ``P`` identities x ``K`` images each, as batch-hard triplet mining needs.

    Each epoch, every identity's images are shuffled and cut into chunks of ``K`` (an identity with fewer
    than ``K`` images is drawn with replacement up to ``K``); batches then take one chunk from each of ``P``
    identities drawn at random among those with chunks left, until fewer than ``P`` remain (as torchreid's
    ``RandomIdentitySampler``). Deterministic given ``seed`` and the epoch set by :meth:`set_epoch`.

    Args:
        labels: training label of each sample, ``(N,)``; samples labelled ``-1`` (unused, e.g. outliers of a
            clustering) are never drawn.
        p: identities per batch.
        k: images per identity.
        seed: base seed.
        rank, world_size: under several processes, every rank draws the same global batch and yields its
            ``rank``-th share of ``p / world_size`` identities (all ``k`` images of each).

    Raises:
        ConfigError: fewer than ``p`` identities, ``p``/``k`` below 1, or ``p`` not divisible by ``world_size``.
    """

    def __init__(self, labels: Sequence[int], p: int, k: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if p < 1 or k < 1:
            raise ConfigError(f"P and K must be >= 1, got P={p}, K={k}")
        if p % world_size:
            raise ConfigError(f"batch_p={p} identities cannot be shared equally by {world_size} processes; use a "
                              f"multiple of {world_size} (--set batch_p=...)")
        self.rank, self.world_size = rank, world_size
        self.index_by_label: dict[int, list[int]] = defaultdict(list)
        for i, lab in enumerate(labels):
            if int(lab) >= 0:
                self.index_by_label[int(lab)].append(i)
        if len(self.index_by_label) < p:
            raise ConfigError(f"P x K sampling needs at least P={p} identities, the dataset has "
                             f"{len(self.index_by_label)}; lower P (--set batch_p=...)")
        self.labels = sorted(self.index_by_label)
        self.p, self.k, self.seed, self.epoch = p, k, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use the shuffle of ``epoch``."""
        self.epoch = epoch

    def _chunks(self, g: torch.Generator) -> dict[int, list[list[int]]]:
        chunks = {}
        for lab in self.labels:
            idx = self.index_by_label[lab]
            if len(idx) < self.k:
                picks = torch.randint(len(idx), (self.k,), generator=g).tolist()
                idx = [idx[j] for j in picks]
            else:
                idx = [idx[j] for j in torch.randperm(len(idx), generator=g).tolist()]
            n = len(idx) // self.k
            chunks[lab] = [idx[c * self.k:(c + 1) * self.k] for c in range(n)]
        return chunks

    def __iter__(self) -> Iterator[list]:
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        chunks = self._chunks(g)
        available = [lab for lab in self.labels if chunks[lab]]
        while len(available) >= self.p:
            chosen = [available[j] for j in torch.randperm(len(available), generator=g)[: self.p].tolist()]
            batch = []
            for lab in chosen:
                batch.extend(chunks[lab].pop())
            share = len(batch) // self.world_size
            yield batch[self.rank * share:(self.rank + 1) * share]
            available = [lab for lab in available if chunks[lab]]

    def __len__(self) -> int:
        per_label = [max(len(v), self.k) // self.k for v in self.index_by_label.values()]
        return sum(per_label) // self.p


class CameraDiversePKSampler(PKSampler):
    """P x K batches whose ``K`` images of an identity come from different cameras where possible: the
    ``RandomMultipleGallerySampler`` of SpCL / PTKP and VLADR's released code (``reid/utils/data/sampler.py``).

    For each identity in a batch, one anchor image is drawn at random, then ``K - 1`` images among the
    identity's images from other cameras than the anchor's: without replacement when there are at least ``K``
    of them, else with replacement (the release's rule); an identity seen by one camera only takes them among its
    other images the same way, and an identity with a single image repeats it. Batches take ``P`` identities
    in turn from a random order of all identities (a tail of fewer than ``P`` starts a new order), until the
    epoch holds ``N // (P K)`` batches (``N`` used samples), as the release's loader draws a fixed number of
    iterations per epoch from its cycling sampler. Deterministic given ``seed`` and the epoch.

    Args:
        labels, p, k, seed, rank, world_size: as :class:`PKSampler`.
        cameras: camera id of each sample, ``(N,)``.

    Raises:
        ConfigError: as :class:`PKSampler`, or not one camera per sample.
    """

    def __init__(self, labels: Sequence[int], cameras: Sequence[int], p: int, k: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        super().__init__(labels, p, k, seed=seed, rank=rank, world_size=world_size)
        if len(cameras) != len(labels):
            raise ConfigError(f"camera-diverse sampling needs one camera per sample: {len(cameras)} cameras for "
                              f"{len(labels)} samples")
        self.cameras = [int(c) for c in cameras]
        self.num_used = sum(len(v) for v in self.index_by_label.values())

    def _pick(self, pool: list[int], g: torch.Generator) -> list[int]:
        need = self.k - 1
        if len(pool) >= self.k:
            return [pool[j] for j in torch.randperm(len(pool), generator=g)[:need].tolist()]
        return [pool[j] for j in torch.randint(len(pool), (need,), generator=g).tolist()]

    def _chunk(self, lab: int, g: torch.Generator) -> list[int]:
        idx = self.index_by_label[lab]
        anchor = idx[int(torch.randint(len(idx), (1,), generator=g))]
        others = [i for i in idx if self.cameras[i] != self.cameras[anchor]]
        if not others:
            others = [i for i in idx if i != anchor] or [anchor]
        return [anchor, *self._pick(others, g)] if self.k > 1 else [anchor]

    def __iter__(self) -> Iterator[list]:
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        order: list[int] = []
        for _ in range(len(self)):
            if len(order) < self.p:  # a new pass over every identity in a new random order (a short tail is dropped)
                order = [self.labels[j] for j in torch.randperm(len(self.labels), generator=g).tolist()]
            chosen, order = order[:self.p], order[self.p:]
            batch = [i for lab in chosen for i in self._chunk(lab, g)]
            share = len(batch) // self.world_size
            yield batch[self.rank * share:(self.rank + 1) * share]

    def __len__(self) -> int:
        return max(1, self.num_used // (self.p * self.k))
