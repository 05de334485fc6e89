"""Lifelong (domain-incremental) ReID: train on domains in order, evaluate seen and unseen domains."""
from __future__ import annotations

from typing import Optional, Sequence

from lifelong_reid.data.sample import DomainData
from lifelong_reid.streams.benchmark import ReIDBenchmark, build_benchmark


def lifelong_stream(train_domains: Sequence[DomainData], unseen_domains: Sequence[DomainData] = (), *,
                    transforms: Optional[tuple] = None, name: str = "lifelong") -> ReIDBenchmark:
    """One experience per training domain, in the given order; every training domain is evaluated on its
    own query/gallery after each experience (seen domains), and so is every unseen domain.

    Args:
        train_domains: domains in training order (each needs train, query and gallery samples).
        unseen_domains: test-only domains (query and gallery samples).
        transforms: ``(train, eval)`` transforms (default 256x128).
        name: stream name.
    """
    if not train_domains:
        raise ValueError("a lifelong stream needs at least one training domain")
    return build_benchmark(name, list(train_domains), list(train_domains) + list(unseen_domains),
                           unseen=[d.name for d in unseen_domains], transforms=transforms)
