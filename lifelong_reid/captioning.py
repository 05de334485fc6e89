"""Captions for person images with BLIP (``lreid caption``), written as the captions JSON plugins read
(:mod:`lifelong_reid.data.side_info`).

VLADR's official code asks a vision-language model about each body part (head, upper body, lower body,
feet) and keeps the answers; here BLIP (Li et al., ICML 2022) continues one prompt per part, and the
caption joins the parts' continuations: "head: ... ; upper body: ... ; lower body: ... ; feet: ...".
``parts=False`` gives one plain caption per image.

Needs ``transformers`` (``pip install 'lifelong-reid[caption]'``) and the model's weights: a Hugging Face
name (downloaded when online, default :data:`DEFAULT_BLIP`) or a local folder saved with
``save_pretrained``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import torch

from lifelong_reid.data.image_io import open_rgb
from lifelong_reid.hf import load_processor_and_model
from lifelong_reid.strategy.checkpoint import atomic_write_json

DEFAULT_BLIP = "Salesforce/blip-image-captioning-base"
PART_PROMPTS = {
    "head": "a picture of the head of a person with",
    "upper body": "a picture of a person whose upper body wears",
    "lower body": "a picture of a person whose lower body wears",
    "feet": "a picture of a person whose feet wear",
}
PLAIN_PROMPT = "a picture of a person"


def load_blip(name_or_path: str = DEFAULT_BLIP, device: str = "cpu"):
    """``(processor, model)`` of a BLIP captioning model, in eval mode on ``device``.

    Raises:
        ModelLoadError: ``transformers`` is not installed, or the weights cannot be found.
    """
    return load_processor_and_model("BlipProcessor", "BlipForConditionalGeneration", name_or_path, "BLIP", device)


@torch.no_grad()
def caption_images(paths: Sequence[Path], processor, model, *, parts: bool = True, max_new_tokens: int = 15,
                   batch_size: int = 16) -> list[str]:
    """One caption per image file (see the module docstring)."""
    device = next(model.parameters()).device
    prompts = PART_PROMPTS if parts else {"": PLAIN_PROMPT}
    out = [[] for _ in paths]
    for s in range(0, len(paths), batch_size):
        images = [open_rgb(p) for p in paths[s:s + batch_size]]
        for part, prompt in prompts.items():
            inputs = processor(images=images, text=[prompt] * len(images), return_tensors="pt", padding=True).to(device)
            ids = model.generate(**inputs, max_new_tokens=max_new_tokens)
            for i, text in enumerate(processor.batch_decode(ids, skip_special_tokens=True)):
                text = text.strip()
                answer = text[len(prompt):].strip() if text.lower().startswith(prompt.lower()) else text
                out[s + i].append(f"{part}: {answer}" if part else answer)
    return ["; ".join(a) if parts else a[0] for a in out]


def write_captions(folder: str | os.PathLike, output: str | os.PathLike, *, model: str = DEFAULT_BLIP,
                   device: str = "cpu", parts: bool = True, max_new_tokens: int = 15, batch_size: int = 16,
                   processor_and_model: Optional[tuple] = None) -> dict:
    """Caption every image under ``folder`` and write ``{path relative to folder: caption}`` to ``output``
    (atomically); returns the table."""
    from lifelong_reid.inference import list_images

    files = list_images(folder)
    processor, blip = processor_and_model or load_blip(model, device)
    captions = caption_images(files, processor, blip, parts=parts, max_new_tokens=max_new_tokens,
                              batch_size=batch_size)
    table = {str(Path(f).relative_to(folder)): c for f, c in zip(files, captions)}
    atomic_write_json(Path(output), table)
    return table
