"""Captions for person images with BLIP (``lreid caption``), written as the captions JSON plugins read
(:mod:`lifelong_reid.data.side_info`).

VLADR's official code asks a vision-language model about each body part (head, upper body, lower body,
feet) and keeps the answers; here BLIP (Li et al., ICML 2022) continues one prompt per part, and the
caption joins the parts' continuations: "head: ... ; upper body: ... ; lower body: ... ; feet: ...".
``parts=False`` gives one plain caption per image.

``style="vladr"`` reproduces the VLADR release's captioning (``reid/models/BLIP_gen.py``): BLIP-2 (OPT-2.7b,
:data:`DEFAULT_BLIP2`) answers the release's 11 questions (:data:`VLADR_QUESTIONS`, each asked as ``"Question:
... Answer:"``, beam search with 2 beams, at most 8 new tokens, repetition penalty 1.5), and the lowercased
answers fill its four part templates (:data:`VLADR_TEMPLATES`); the result is one per-part caption object per
image, ``{"head": ..., "upper": ..., "lower": ..., "foot": ...}`` (the captions format's per-part form).

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

DEFAULT_BLIP2 = "Salesforce/blip2-opt-2.7b"
#: The VLADR release's questions per part (``reid/models/BLIP_gen.py``, ``prompt_dict``).
VLADR_QUESTIONS = {
    "head": {"gender": "Question: What is the gender of the person? Answer:",
             "color": "Question: What color is the person's hair? Answer:",
             "length": "Question: How long is the person's hair? Answer:",
             "accessories": "Question: What accessory is the person wearing? If none, answer none. Answer:"},
    "upper": {"color": "Question: What color is the upper body clothing? Answer:",
              "clothing": "Question: What is the person wearing on the upper body?. Answer:",
              "movements": "Question: What is the person doing? If none, answer none. Answer:"},
    "lower": {"color": "Question: What color is the lower body clothing? Answer:",
              "clothing": "Question: What is the person wearing on the lower body?. Answer:"},
    "foot": {"color": "Question: What color are the shoes? Answer:",
             "type": "Question: What type of shoes is the person wearing? Answer:"},
}
#: The release's part templates, filled with the lowercased answers.
VLADR_TEMPLATES = {
    "head": "A {gender} with {color}, {length} hair, wearing {accessories}.",
    "upper": "Wearing {color} {clothing}, {movements}",
    "lower": "Wearing {color} {clothing}",
    "foot": "Wearing {color} {type}",
}


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


def load_blip2(name_or_path: str = DEFAULT_BLIP2, device: str = "cpu"):
    """``(processor, model)`` of a BLIP-2 model (``Blip2ForConditionalGeneration``), in eval mode on ``device``.

    Raises:
        ModelLoadError: ``transformers`` is not installed, or the weights cannot be found.
    """
    return load_processor_and_model("Blip2Processor", "Blip2ForConditionalGeneration", name_or_path, "BLIP-2",
                                    device)


def _new_tokens(ids: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
    """The generated tokens of ``ids``: a decoder-only model's output may start with the prompt's ids."""
    n = prompt.shape[1]
    if ids.shape[1] > n and bool((ids[:, :n] == prompt.to(ids.device)).all()):
        return ids[:, n:]
    return ids


@torch.no_grad()
def vladr_part_captions(paths: Sequence[Path], processor, model, *, batch_size: int = 16, max_new_tokens: int = 8,
                        num_beams: int = 2, repetition_penalty: float = 1.5) -> list[dict]:
    """Per-part captions of each image file as the VLADR release makes them (see the module docstring):
    ``[{"head": ..., "upper": ..., "lower": ..., "foot": ...}, ...]``."""
    device = next(model.parameters()).device
    out = []
    for s in range(0, len(paths), batch_size):
        images = [open_rgb(p) for p in paths[s:s + batch_size]]
        answers = [{part: {} for part in VLADR_QUESTIONS} for _ in images]
        for part, questions in VLADR_QUESTIONS.items():
            for key, question in questions.items():
                inputs = processor(images=images, text=[question] * len(images), return_tensors="pt",
                                   padding=True).to(device)
                ids = model.generate(**inputs, num_beams=num_beams, max_new_tokens=max_new_tokens, min_new_tokens=1,
                                     repetition_penalty=repetition_penalty, do_sample=False)
                texts = processor.batch_decode(_new_tokens(ids, inputs["input_ids"]), skip_special_tokens=True)
                for a, text in zip(answers, texts):
                    a[part][key] = text.strip().lower()
        out += [{part: VLADR_TEMPLATES[part].format(**a[part]) for part in VLADR_TEMPLATES} for a in answers]
    return out


def write_captions(folder: str | os.PathLike, output: str | os.PathLike, *, model: Optional[str] = None,
                   device: str = "cpu", parts: bool = True, max_new_tokens: Optional[int] = None,
                   batch_size: int = 16, processor_and_model: Optional[tuple] = None, style: str = "blip") -> dict:
    """Caption every image under ``folder`` and write ``{path relative to folder: caption}`` to ``output``
    (atomically); returns the table. ``style="blip"``: BLIP continuations (``parts`` per body part, default
    model :data:`DEFAULT_BLIP`, 15 new tokens); ``style="vladr"``: the VLADR release's BLIP-2 per-part captions
    (:func:`vladr_part_captions`, default model :data:`DEFAULT_BLIP2`, 8 new tokens), written as per-part objects.

    Raises:
        ValueError: an unknown ``style``.
        ModelLoadError: the model cannot be loaded.
    """
    from lifelong_reid.inference import list_images

    if style not in ("blip", "vladr"):
        raise ValueError(f"unknown caption style {style!r}; choose 'blip' or 'vladr'")
    files = list_images(folder)
    if style == "vladr":
        processor, blip2 = processor_and_model or load_blip2(model or DEFAULT_BLIP2, device)
        captions = vladr_part_captions(files, processor, blip2, batch_size=batch_size,
                                       max_new_tokens=max_new_tokens or 8)
    else:
        processor, blip = processor_and_model or load_blip(model or DEFAULT_BLIP, device)
        captions = caption_images(files, processor, blip, parts=parts, max_new_tokens=max_new_tokens or 15,
                                  batch_size=batch_size)
    table = {str(Path(f).relative_to(folder)): c for f, c in zip(files, captions)}
    atomic_write_json(Path(output), table)
    return table
