"""Vision-Semantic Prompt Fusion (VSPF): text cues from CLIP's text encoder injected into several blocks of the
image encoder.

Shapes: ``B`` sequences (images), ``N`` tokens, ``D`` encoder width, ``E`` joint (text) embedding size, ``T``
text tokens injected at a layer, ``P`` part sentences, ``K`` clusters.

What the abstract says: multi-scale textual cues derived from CLIP and large language models are injected into
multiple layers of the vision backbone for token-wise semantic alignment. What this module does (this
library's design; MaPLe's per-layer text-to-vision coupling, ``muzairkhattak/multimodal-prompt-learning``, and
Flamingo's zero-initialised tanh gate are the closest public designs):

- text cues, encoded once by the frozen text tower: a modality template per sample (``"a visible photo of a
  person."`` / ``"an infrared photo of a person."``), and ``P`` part / attribute sentences (written by an LLM
  and read from a file when given, else :data:`DEFAULT_PART_SENTENCES`);
- identity-level cues: the text features of every pseudo-identity's learnable prompt (CLIP-ReID's
  ``"A photo of a X X X X person."``, CCLNet's per-cluster tokens) kept in a ``(K, E)`` bank; a sample's
  identity cue is the attention of its projected CLS token over the bank (so it needs no label at test time);
- at each injected layer ``l`` the cues are projected to the encoder width (one ``Linear(E, D)`` per layer)
  and read by every token through a cross-attention whose output is added with a gate ``tanh(a_l)``,
  ``a_l = 0`` at the start: ``x <- x + tanh(a_l) * Attn(LN(x), T_l, T_l)``, so the pretrained encoder is
  unchanged until the gates learn to open; shallow layers read the part-level cues, deep layers the
  identity-level one (both with the modality cue);
- after each injected layer the CLS token is projected to the joint space (``Linear(D, E)``) for the
  multi-layer alignment regularizer (:func:`~.losses.alignment_loss`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lifelong_reid.errors import ConfigError

#: Modality templates (CCLNet's prompts without the learnable tokens).
MODALITY_TEMPLATES = {"rgb": "a visible photo of a person.", "ir": "an infrared photo of a person."}

#: Part sentences used when no LLM-written file is given (the body parts of MUVA's / VLADR's templates).
DEFAULT_PART_SENTENCES = ("the head and hair of a person.", "the upper-body clothes of a person.",
                          "the lower-body clothes of a person.", "the shoes of a person.")


def read_sentences(path: str | Path) -> list[str]:
    """Part / attribute sentences from a file: one sentence per line (blank lines and ``#`` comments skipped),
    or a JSON list of strings.

    Raises:
        ConfigError: the file is missing, unreadable or holds no sentence.
    """
    import json

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"firm vspf_sentences: {p} does not exist; give a text file with one part/attribute "
                          "sentence per line (or a JSON list), or leave it unset for the built-in sentences")
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json":
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"firm vspf_sentences: {p} is not valid JSON ({e})") from None
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise ConfigError(f"firm vspf_sentences: {p} must hold a JSON list of strings")
    else:
        items = [line.strip() for line in text.splitlines()]
    sentences = [s for s in items if s and not s.startswith("#")]
    if not sentences:
        raise ConfigError(f"firm vspf_sentences: {p} holds no sentence")
    return sentences


def default_layers(num_layers: int) -> tuple[list[int], int]:
    """``(injected layers, first deep layer)``: every ``max(1, L // 6)``-th block from ``L // 4`` on (ViT-B/16:
    3, 5, 7, 9, 11; a 4-block encoder: 1, 2, 3); blocks from ``L // 2`` on are deep."""
    step = max(1, num_layers // 6)
    return list(range(num_layers // 4, num_layers, step)), num_layers // 2


class VSPF(nn.Module):
    """The per-layer projections, gated cross-attentions and read-outs of VSPF (module docstring).

    Args:
        width: ``D``. embed_dim: ``E``. layers: the injected block indices. deep_from: first deep block.
        num_parts: ``P``. heads: cross-attention heads. bank_temperature: softmax temperature of the identity
            cue's attention over the bank.
    """

    def __init__(self, width: int, embed_dim: int, layers: Sequence[int], deep_from: int, num_parts: int,
                 heads: int = 4, bank_temperature: float = 0.05):
        super().__init__()
        if width % heads:
            raise ConfigError(f"firm vspf_heads ({heads}) must divide the encoder width ({width})")
        self.layers = [int(x) for x in layers]
        self.deep_from, self.bank_temperature = deep_from, bank_temperature
        n = len(self.layers)
        self.text_proj = nn.ModuleList(nn.Linear(embed_dim, width) for _ in range(n))
        self.norm = nn.ModuleList(nn.LayerNorm(width) for _ in range(n))
        self.attn = nn.ModuleList(nn.MultiheadAttention(width, heads, batch_first=True) for _ in range(n))
        self.gate = nn.Parameter(torch.zeros(n))
        self.cls_norm = nn.ModuleList(nn.LayerNorm(width) for _ in range(n))
        self.cls_proj = nn.ModuleList(nn.Linear(width, embed_dim) for _ in range(n))
        for lin in self.cls_proj:
            nn.init.normal_(lin.weight, std=width ** -0.5)
            nn.init.zeros_(lin.bias)
        # frozen text cues (filled by the plugin from the text tower) and the identity bank
        self.register_buffer("modality_text", torch.zeros(len(MODALITY_TEMPLATES), embed_dim))
        self.register_buffer("part_text", torch.zeros(num_parts, embed_dim))
        self.register_buffer("bank", torch.zeros(0, embed_dim))

    def slot(self, layer: int) -> Optional[int]:
        """Position of block ``layer`` among the injected ones, or ``None``."""
        return self.layers.index(layer) if layer in self.layers else None

    def read_cls(self, i: int, cls: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` CLS tokens after injected layer ``i`` -> ``(B, E)`` in the joint space."""
        return self.cls_proj[i](self.cls_norm[i](cls))

    def identity_cue(self, i: int, cls: torch.Tensor) -> torch.Tensor:
        """``(B, E)``: the bank's text features weighted by the softmax of their cosine with the projected CLS
        tokens (the bank is read without gradient: it is refreshed from the prompts at every re-clustering)."""
        q = F.normalize(self.read_cls(i, cls), dim=-1)
        bank = F.normalize(self.bank.to(q.dtype), dim=-1)
        weights = torch.softmax(q @ bank.t() / self.bank_temperature, dim=-1)
        return weights @ self.bank.to(q.dtype)

    def cues(self, i: int, layer: int, cls: torch.Tensor, modality_index: torch.Tensor) -> torch.Tensor:
        """``(B, T, E)`` the text cues of block ``layer``: the modality cue, then the parts (shallow) or the
        identity cue (deep; the parts when the bank is empty)."""
        b = cls.shape[0]
        mod = self.modality_text.to(cls.dtype)
        modality = torch.where(modality_index[:, None] >= 0, mod[modality_index.clamp_min(0)],
                               mod.mean(0, keepdim=True))  # unknown modality (bare images): the mean
        out = [modality[:, None]]
        if layer >= self.deep_from and len(self.bank):
            out.append(self.identity_cue(i, cls)[:, None])
        else:
            out.append(self.part_text.to(cls.dtype).unsqueeze(0).expand(b, -1, -1))
        return torch.cat(out, dim=1)

    def inject(self, i: int, tokens: torch.Tensor, cues: torch.Tensor) -> torch.Tensor:
        """``(B, N, D)`` tokens plus the gated cross-attention of their LayerNorm to the ``(B, T, E)`` cues."""
        text = self.text_proj[i](cues.to(tokens.dtype))
        read = self.attn[i](self.norm[i](tokens), text, text, need_weights=False)[0]
        return tokens + torch.tanh(self.gate[i]).to(tokens.dtype) * read


def gate_openings(vspf: VSPF) -> list[float]:
    """``tanh(a_l)`` of every injected layer (0 at the start)."""
    return [math.tanh(float(a)) for a in vspf.gate.detach().cpu()]
