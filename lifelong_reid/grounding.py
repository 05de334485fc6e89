"""Part boxes for person images with an open-vocabulary grounding model (``lreid ground``), written as the
part-boxes JSON plugins read (:func:`lifelong_reid.data.side_info.load_part_boxes`): MUVA's pseudo-labels.

MUVA grounds "the head / upper body / legs of the person" with CogVLM (Sec. 3.2.3); here Grounding DINO (Liu et
al., ECCV 2024) through ``transformers`` reads one text query ``"head. upper body. legs."`` per image. For each
part, the box is the query slot whose score for that phrase (the maximum sigmoid over the phrase's tokens) is
highest; a part whose best score is below ``box_threshold`` gets no box (MUVA's calibration then gives it
its stripe window). Boxes are clipped to the image; degenerate ones are dropped.

Needs ``transformers`` (``pip install 'lifelong-reid[caption]'``) and the model's weights: a Hugging Face name
(downloaded when online, default :data:`DEFAULT_GROUNDING`) or a local folder saved with ``save_pretrained``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import torch

from lifelong_reid.data.image_io import open_rgb
from lifelong_reid.hf import load_processor_and_model
from lifelong_reid.strategy.checkpoint import atomic_write_json

DEFAULT_GROUNDING = "IDEA-Research/grounding-dino-tiny"
#: The phrase queried for each part name of the side-file format.
PART_PHRASES = {"head": "head", "upper": "upper body", "legs": "legs"}


def load_grounding(name_or_path: str = DEFAULT_GROUNDING, device: str = "cpu"):
    """``(processor, model)`` of a Grounding DINO model, in eval mode on ``device``.

    Raises:
        ModelLoadError: ``transformers`` is not installed, or the weights cannot be found.
    """
    return load_processor_and_model("AutoProcessor", "GroundingDinoForObjectDetection", name_or_path,
                                    "Grounding DINO", device)


def phrase_tokens(tokenizer, query: str, phrases: dict) -> dict[str, list[int]]:
    """``{part: token positions}`` of each phrase inside the tokenised ``query`` (by character offsets)."""
    enc = tokenizer(query, return_offsets_mapping=True)
    spans = {}
    for part, phrase in phrases.items():
        start = query.index(phrase)
        end = start + len(phrase)
        spans[part] = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and a >= start and b <= end]
    return spans


@torch.no_grad()
def ground_images(paths: Sequence[Path], processor, model, *, box_threshold: float = 0.25,
                  batch_size: int = 8, phrases: Optional[dict] = None) -> list[dict]:
    """``[{part: [x0, y0, x1, y1]}]`` in pixels of each image (see the module docstring)."""
    phrases = phrases or PART_PHRASES
    query = ". ".join(phrases.values()) + "."
    tokens = phrase_tokens(processor.tokenizer, query, phrases)
    device = next(model.parameters()).device
    out = []
    for s in range(0, len(paths), batch_size):
        images = [open_rgb(p) for p in paths[s:s + batch_size]]
        inputs = processor(images=images, text=[query] * len(images), return_tensors="pt", padding=True).to(device)
        res = model(**inputs)
        probs = torch.sigmoid(res.logits.float())  # (B, Q, T)
        boxes = res.pred_boxes.float()  # (B, Q, 4) normalised cx, cy, w, h
        for i, image in enumerate(images):
            w, h = image.size
            found = {}
            for part, idx in tokens.items():
                if not idx:
                    continue
                score = probs[i][:, idx].max(dim=1).values  # (Q,)
                q = int(score.argmax())
                if float(score[q]) < box_threshold:
                    continue
                cx, cy, bw, bh = boxes[i, q].tolist()
                x0, y0 = max(0.0, (cx - bw / 2) * w), max(0.0, (cy - bh / 2) * h)
                x1, y1 = min(float(w), (cx + bw / 2) * w), min(float(h), (cy + bh / 2) * h)
                if x1 > x0 and y1 > y0:
                    found[part] = [round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)]
            out.append(found)
    return out


def write_part_boxes(folder: str | os.PathLike, output: str | os.PathLike, *, model: str = DEFAULT_GROUNDING,
                     device: str = "cpu", box_threshold: float = 0.25, batch_size: int = 8,
                     processor_and_model: Optional[tuple] = None) -> dict:
    """Ground every image under ``folder`` and write ``{path relative to folder: {part: box}}`` to ``output``
    (atomically; images without any box are left out); returns the table."""
    from lifelong_reid.inference import list_images

    files = list_images(folder)
    processor, grounding = processor_and_model or load_grounding(model, device)
    boxes = ground_images(files, processor, grounding, box_threshold=box_threshold, batch_size=batch_size)
    table = {str(Path(f).relative_to(folder)): b for f, b in zip(files, boxes) if b}
    atomic_write_json(Path(output), table)
    return table
