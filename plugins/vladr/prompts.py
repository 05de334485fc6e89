"""MTAD, the text side: a global prompt and ``K`` local attribute prompts read with an image's caption.

Shapes: ``T`` captions, ``L`` context length (77), ``W`` text width, ``E`` joint embedding size, ``n``
tokens per prompt, ``K`` attribute prompts.

The CLIP text transformer is causal (a token sees only the tokens before it), so the prompts are placed
*after* the caption: ``[SOS] caption [P_1] ... [P_K] [P_g] [EOT]``. Each attribute prompt reads the whole
caption and the prompts before it; attribute feature ``t_k`` is the output at the last token of ``P_k``,
the global feature ``t_g`` the output at ``EOT`` (CLIP's pooled position), both through the text
projection. Captions are cut so that the sequence fits the context length.

The attribute orthogonality loss (paper, Stage-1 losses) is the mean squared off-diagonal cosine
similarity between a caption's ``K`` attribute features: zero when the attributes are decorrelated.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from lifelong_reid.text import CaptionPromptLearner, text_width


class AttributePromptLearner(CaptionPromptLearner):
    """VLADR's prompts (MTAD): ``K`` attribute prompts then a global prompt, ``n`` learnable tokens each, read
    with the caption by the (frozen) CLIP text encoder of ``clip_model`` (the layout of the module docstring,
    on the shared :class:`~lifelong_reid.text.CaptionPromptLearner`).

    Args:
        clip_model: an open_clip ``CLIP`` (``token_embedding``, ``positional_embedding``, ``transformer``,
            ``ln_final``, ``text_projection``, ``attn_mask``).
        num_attributes: ``K``. prompt_length: ``n`` tokens per prompt.

    Raises:
        ValueError: the prompts leave no room for a caption in the context length.
    """

    def __init__(self, clip_model, num_attributes: int = 4, prompt_length: int = 4):
        n, k = prompt_length, num_attributes
        super().__init__(clip_model, num_tokens=(k + 1) * n, reads=[(j + 1) * n - 1 for j in range(k)])
        width = text_width(clip_model)
        self.num_attributes, self.prompt_length = num_attributes, prompt_length
        self.global_prompt = nn.Parameter(torch.randn(prompt_length, width) * 0.02)
        self.attribute_prompts = nn.Parameter(torch.randn(num_attributes, prompt_length, width) * 0.02)

    def prompt_tokens(self) -> torch.Tensor:
        """``(K n + n, W)``: the attribute prompts, then the global prompt."""
        return torch.cat([self.attribute_prompts.flatten(0, 1), self.global_prompt])

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T, L)`` caption token ids -> ``(t_global (T, E), t_attributes (T, K, E))``."""
        out = super().forward(tokens)  # (T, K + 1, E): the attribute read-outs, then EOT
        return out[:, -1], out[:, :-1]


def orthogonality_loss(attributes: torch.Tensor) -> torch.Tensor:
    """Mean squared off-diagonal cosine similarity of ``(T, K, E)`` attribute features (a scalar)."""
    a = F.normalize(attributes, dim=-1)
    gram = a @ a.transpose(1, 2)
    k = gram.shape[-1]
    off = gram - torch.eye(k, device=gram.device)
    return (off ** 2).sum((1, 2)).mean() / max(1, k * (k - 1))


def random_partition_captions(captions: list[str], num_attributes: int, seed: int = 0) -> list[list[str]]:
    """The "random attribute partition" ablation: each caption's words dealt into ``K`` groups at random
    (seeded per caption), one text per attribute, in place of learnt attribute prompts."""
    import random

    out = []
    for j, cap in enumerate(captions):
        words = cap.split()
        rng = random.Random(f"{seed}:{j}:{cap}")
        groups = [[] for _ in range(num_attributes)]
        for w in words:
            groups[rng.randrange(num_attributes)].append(w)
        out.append([" ".join(g) or cap for g in groups])
    return out
