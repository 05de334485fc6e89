"""A static (supervised) benchmark: one dataset, one experience, evaluated on its own query/gallery."""
from __future__ import annotations

from typing import Optional

from lifelong_reid.data.sample import DomainData
from lifelong_reid.streams.benchmark import ReIDBenchmark, build_benchmark


def static_stream(domain: DomainData, transforms: Optional[tuple] = None, name: Optional[str] = None) -> ReIDBenchmark:
    """One experience training on ``domain.train``, evaluated on ``domain.query`` / ``domain.gallery``.

    Args:
        domain: e.g. ``read_market1501(root)``.
        transforms: ``(train, eval)`` from :func:`~lifelong_reid.data.build_transforms` (default 256x128).
        name: stream name (default ``"static:<domain>"``).
    """
    return build_benchmark(name or f"static:{domain.name}", [domain], [domain], unseen=[], transforms=transforms)
