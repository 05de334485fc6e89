"""Non-visible renderings of a synthetic crop, for visible-infrared and multi-spectral streams.

From the visible (RGB) render and the same crop's background alone (the person mask is where they
differ):

- ``"ir"`` / ``"nir"`` near-infrared: one channel mixing R, G and B with weights unlike human vision
  (fabrics reflect NIR differently; colour names are lost), a per-camera gain and sensor noise;
- ``"tir"`` thermal: the body glows over a cold background: skin and thin clothes are warmer than coats,
  blurred, no colour at all.

All are returned as 3-channel images (the three channels equal), as real IR crops are stored.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

NIR_WEIGHTS = np.array([0.55, 0.35, 0.10])
SYNTHETIC_MODALITIES = ("rgb", "ir", "nir", "tir")


def person_mask(rgb: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels where the person (anything drawn over the background) is."""
    return np.abs(rgb.astype(float) - background.astype(float)).sum(-1) > 12


def to_modality(rgb: Image.Image, background: np.ndarray, modality: str, rng: np.random.Generator,
                warmth: float = 0.0) -> Image.Image:
    """``rgb`` (a 64x128 crop) seen in ``modality``; ``background`` is the crop's background alone
    (``(H, W, 3)``), ``warmth`` in ``[-1, 1]`` shifts the body's thermal brightness (per identity).

    Raises:
        ValueError: unknown modality.
    """
    if modality == "rgb":
        return rgb
    arr = np.asarray(rgb, dtype=float)
    if modality in ("ir", "nir"):
        gray = arr @ NIR_WEIGHTS
        gray = gray * rng.uniform(0.8, 1.2) + rng.uniform(-15, 15) + rng.normal(0, 5, gray.shape)
    elif modality == "tir":
        mask = person_mask(arr, background)
        body = 165 + 25 * warmth - 0.25 * (arr @ NIR_WEIGHTS - 128)
        gray = np.where(mask, body, 45 + 0.15 * background.mean(-1))
        gray = np.asarray(Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2)),
                          dtype=float) + rng.normal(0, 3, gray.shape)
    else:
        raise ValueError(f"unknown modality {modality!r}; synthetic modalities: {', '.join(SYNTHETIC_MODALITIES)}")
    g = np.clip(gray, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([g, g, g], -1))
