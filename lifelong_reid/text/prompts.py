"""Learnable prompts read by CLIP's (frozen) text encoder.

Shapes: ``B`` labels, ``T`` captions, ``L`` context length, ``W`` text width, ``E`` joint embedding size,
``C`` classes (identities), ``G`` templates, ``n`` learnable tokens, ``P`` prompt tokens, ``R`` read-outs.
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn as nn

from lifelong_reid.text.encoding import context_length, encode_embeddings, eot_positions, text_width


def placeholder_span(tokens: torch.Tensor, placeholder_id: int, template: str) -> tuple[int, int]:
    """``(start, end)`` of the one contiguous run of ``placeholder_id`` in a ``(L,)`` tokenised template.

    Raises:
        ValueError: no run, or several.
    """
    where = (tokens == placeholder_id).nonzero().flatten().tolist()
    if not where or where != list(range(where[0], where[-1] + 1)):
        raise ValueError(f"template {template!r} needs one contiguous run of the placeholder word")
    return where[0], where[-1] + 1


class IdentityPromptLearner(nn.Module):
    """CLIP-ReID's stage-1 text side (Li et al., AAAI 2023, Sec. 3.2): per-identity learnable context tokens
    replacing the placeholder words of a template, e.g. ``"A photo of a X X X X person."``; the text feature is
    read at EOT. Several templates (MUVA's multi-grained prompts: person, head, upper body, legs) give one
    feature per template, each with its own context tokens.

    Args:
        clip_model: an open_clip ``CLIP`` (frozen; not a submodule of this module).
        tokenizer: its tokenizer (``texts -> (T, L)`` ids).
        num_classes: ``C``.
        templates: a template or a list of templates, each with one run of ``placeholder`` words (their count
            is ``n``).
        placeholder: the placeholder word.
        init_std: context tokens start ~ N(0, init_std) (CLIP-ReID 0.02, MUVA 0.002).

    Raises:
        ValueError: a template without a contiguous run of placeholders.
    """

    def __init__(self, clip_model, tokenizer, num_classes: int,
                 templates: Union[str, Sequence[str]] = "A photo of a X X X X person.", placeholder: str = "X",
                 init_std: float = 0.02):
        super().__init__()
        self.clip = [clip_model]  # not a submodule: the text tower stays frozen and out of this state dict
        self.single = isinstance(templates, str)
        self.templates = [templates] if self.single else list(templates)
        self.init_std = init_std
        placeholder_id = int(tokenizer([placeholder])[0, 1])
        ids = tokenizer(self.templates)
        self.register_buffer("template_ids", ids, persistent=False)
        self.spans = [placeholder_span(ids[g], placeholder_id, t) for g, t in enumerate(self.templates)]
        self.num_tokens = [e - s for s, e in self.spans]
        self.width = text_width(clip_model)
        self.ctx = nn.ParameterList([nn.Parameter(torch.empty(num_classes, n, self.width)) for n in self.num_tokens])
        self.reset(num_classes)

    @property
    def num_classes(self) -> int:
        return self.ctx[0].shape[0]

    def reset(self, num_classes: int) -> None:
        """New context tokens for ``num_classes`` identities (one experience's classes)."""
        device = self.template_ids.device
        for g, n in enumerate(self.num_tokens):
            self.ctx[g] = nn.Parameter(torch.randn(num_classes, n, self.width, device=device) * self.init_std)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """``(B,)`` identity labels -> ``(B, E)`` text features (``(B, G, E)`` with several templates)."""
        clip = self.clip[0]
        outs = []
        for g, (s, e) in enumerate(self.spans):
            ids = self.template_ids[g:g + 1].expand(len(labels), -1)
            emb = clip.token_embedding(ids)
            ctx = self.ctx[g][labels].to(emb.dtype)
            emb = torch.cat([emb[:, :s], ctx, emb[:, e:]], dim=1)
            outs.append(encode_embeddings(clip, emb, eot_positions(ids)))
        return outs[0] if self.single else torch.stack(outs, dim=1)


class CaptionPromptLearner(nn.Module):
    """Learnable tokens read together with a caption: ``[SOS] caption [prompt tokens] [EOT]``.

    The CLIP text transformer is causal (a token sees only the tokens before it), so the prompt block comes
    *after* the caption, and each read-out sees the whole caption. Features are read at the given offsets
    inside the prompt block and at ``EOT``. Captions are cut so that the sequence fits the context.

    Subclasses may hold their prompt tokens in their own parameters and override :meth:`prompt_tokens`
    (VLADR's attribute prompts).

    Args:
        clip_model: an open_clip ``CLIP`` (frozen; not a submodule).
        num_tokens: ``P`` prompt tokens (``0`` when a subclass provides them).
        reads: offsets in ``[0, P)`` of the tokens to read (e.g. the last token of each prompt group).
        init_std: prompt tokens start ~ N(0, init_std).

    Raises:
        ValueError: the prompts leave no room for a caption, or a read offset outside the block.
    """

    def __init__(self, clip_model, num_tokens: int, reads: Sequence[int] = (), init_std: float = 0.02):
        super().__init__()
        self.clip = [clip_model]
        self.context_length = context_length(clip_model)
        self.num_prompt_tokens = num_tokens
        self.reads = list(reads)
        if any(not 0 <= r < num_tokens for r in self.reads):
            raise ValueError(f"read offsets {self.reads} must lie in the prompt block [0, {num_tokens})")
        self.max_caption = self.context_length - 2 - num_tokens
        if self.max_caption < 1:
            raise ValueError(f"{num_tokens} prompt tokens leave no room for a caption in a context of "
                             f"{self.context_length}")
        if type(self).prompt_tokens is CaptionPromptLearner.prompt_tokens:
            self.prompts = nn.Parameter(torch.randn(num_tokens, text_width(clip_model)) * init_std)

    def prompt_tokens(self) -> torch.Tensor:
        """``(P, W)`` the prompt block."""
        return self.prompts

    def sequences(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T, L, W)`` input embeddings and ``(T, R + 1)`` read positions (the reads, then EOT)."""
        clip = self.clip[0]
        emb = clip.token_embedding(tokens)
        eot = eot_positions(tokens)
        prompts = self.prompt_tokens()
        seqs, positions = [], []
        for i in range(len(tokens)):
            cap = min(int(eot[i]), self.max_caption + 1)  # SOS + caption tokens kept
            seq = torch.cat([emb[i, :cap], prompts, emb[i, eot[i]:eot[i] + 1]])
            pad = emb[i, -1:].expand(self.context_length - len(seq), -1)
            seqs.append(torch.cat([seq, pad]))
            positions.append([cap + r for r in self.reads] + [cap + self.num_prompt_tokens])
        return torch.stack(seqs), torch.tensor(positions, device=tokens.device)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(T, L)`` caption token ids -> ``(T, R + 1, E)`` features at the reads, then at EOT."""
        x, pos = self.sequences(tokens)
        return encode_embeddings(self.clip[0], x, pos)
