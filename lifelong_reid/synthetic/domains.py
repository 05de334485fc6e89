"""Domain and camera styles of the synthetic generator.

A *domain* fixes the background, illumination, colour cast, blur, resolution and noise of all its images
and owns a few cameras; a *camera* fixes the mix of viewpoints (front / back / side), the person's scale
range, how often the person is occluded and a brightness offset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VIEWS = ("front", "back", "side")


@dataclass(frozen=True)
class CameraStyle:
    """Viewing conditions of one camera.

    Attributes:
        view_probs: probabilities of ``front``, ``back``, ``side``.
        scale: ``(low, high)`` person height as a fraction of the crop height.
        occlusion: probability that a box occludes part of the legs.
        brightness: multiplicative brightness of this camera.
    """

    view_probs: tuple
    scale: tuple
    occlusion: float
    brightness: float


@dataclass(frozen=True)
class DomainStyle:
    """Imaging conditions shared by a domain's images (units: colour values in 0..255, blur in pixels)."""

    name: str
    background: tuple
    background2: tuple
    texture: str
    gain: float
    cast: tuple
    blur: float
    resolution: float
    noise: float
    cameras: tuple


def make_domain_style(name: str, seed: int, num_cameras: int = 3) -> DomainStyle:
    """Draw a domain style deterministically from ``seed``.

    Raises:
        ValueError: ``num_cameras < 2`` (the ReID protocol needs cross-camera matches).
    """
    if num_cameras < 2:
        raise ValueError(f"a synthetic domain needs at least 2 cameras, got {num_cameras}")
    rng = np.random.default_rng([seed, 7919])
    cams = []
    for _ in range(num_cameras):
        probs = rng.dirichlet([2.0, 2.0, 1.0])
        lo = float(rng.uniform(0.72, 0.88))
        cams.append(CameraStyle(view_probs=tuple(float(p) for p in probs), scale=(lo, min(lo + 0.12, 0.98)),
                                occlusion=float(rng.choice([0.0, 0.0, 0.15, 0.3])),
                                brightness=float(rng.uniform(0.85, 1.15))))
    return DomainStyle(
        name=name,
        background=tuple(int(v) for v in rng.integers(40, 220, 3)),
        background2=tuple(int(v) for v in rng.integers(40, 220, 3)),
        texture=str(rng.choice(["floor", "stripes", "noise"])),
        gain=float(rng.uniform(0.7, 1.25)),
        cast=tuple(float(v) for v in rng.uniform(0.8, 1.2, 3)),
        blur=float(rng.choice([0.0, 0.0, 0.6, 1.0])),
        resolution=float(rng.choice([1.0, 1.0, 0.75, 0.5])),
        noise=float(rng.uniform(2.0, 10.0)),
        cameras=tuple(cams),
    )
