"""The state of one forward pass of the vision encoder, handed to every vision hook.

Shapes: ``B`` batch (images, or multi-modal tuples), ``M`` modalities per sample (1 for plain images),
``N`` tokens per sequence, ``n`` tokens of one named span, ``D`` encoder width, ``G = gh * gw`` patches.

The encoder keeps one sequence per (sample, modality): ``tokens`` is ``(B * M, N, D)``, sample-major (the
``M`` sequences of sample 0, then those of sample 1, ...). :meth:`VisionContext.view` gives the same data as
``(B, M, N, D)``; every span accessor takes ``view=True`` for that layout. Token positions are never read by
index: each group of tokens has a name (``"cls"``, ``"patches"``, and whatever plugins add), and names keep
pointing at the right tokens when other plugins add or remove theirs.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Optional

import torch

#: Spans every sequence starts with.
BASE_SPANS = ("cls", "patches")


class VisionContext:
    """One forward pass: the token sequences, their named spans, per-layer records.

    Attributes:
        tokens: ``(B * M, N, D)`` the current sequences.
        images: the encoder's input, ``(B, 3, H, W)`` or ``(B, M, 3, H, W)``.
        batch_size: ``B``. num_modalities: ``M``.
        grid: ``(gh, gw)`` patch grid.
        spans: ``{name: (start, end)}`` token positions of every named span (``cls``, ``patches``, ...).
        batch: the :class:`~lifelong_reid.data.ReIDBatch` being encoded, or ``None`` (inference on bare
            images).
        records: ``{name: [value, ...]}`` values plugins keep per layer for their losses
            (:meth:`record`); returned by the model as ``outputs["records"]``.
        layer_index: the block being run (``-1`` during token embedding).
        stage: ``"embed"`` (before ``ln_pre``), ``"blocks"`` or ``"done"``.
    """

    def __init__(self, tokens: torch.Tensor, images: torch.Tensor, grid: tuple, batch=None,
                 num_modalities: int = 1):
        if tokens.shape[0] % num_modalities:
            raise ValueError(f"{tokens.shape[0]} sequences cannot hold {num_modalities} modalities per sample")
        self.tokens, self.images, self.grid, self.batch = tokens, images, tuple(grid), batch
        self.num_modalities = num_modalities
        self.batch_size = tokens.shape[0] // num_modalities
        num_patches = self.grid[0] * self.grid[1]
        self.spans: dict[str, tuple[int, int]] = {"cls": (0, 1), "patches": (1, 1 + num_patches)}
        self.records: dict[str, list] = defaultdict(list)
        self.layer_index = -1
        self.stage = "embed"

    # ------------------------------------------------------------------ shapes
    @property
    def width(self) -> int:
        """``D``."""
        return self.tokens.shape[-1]

    @property
    def num_tokens(self) -> int:
        """``N``: tokens per sequence."""
        return self.tokens.shape[1]

    def view(self, name: Optional[str] = None) -> torch.Tensor:
        """``(B, M, N, D)`` (all tokens) or ``(B, M, n, D)`` (span ``name``): a view, no copy."""
        x = self.tokens if name is None else self.get_tokens(name)
        return x.view(self.batch_size, self.num_modalities, *x.shape[1:])

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, M, ...)`` -> ``(B * M, ...)`` in the context's sample-major order."""
        return x.reshape(self.batch_size * self.num_modalities, *x.shape[2:])

    # ------------------------------------------------------------------ spans
    def _expand(self, name: str, extra: torch.Tensor, per_modality: bool) -> torch.Tensor:
        b, m, d = self.batch_size, self.num_modalities, self.width
        if extra.shape[-1] != d:
            raise ValueError(f"tokens {name!r} have width {extra.shape[-1]}, the encoder {d}")
        if per_modality:
            if extra.dim() != 3 or extra.shape[0] != m:
                raise ValueError(f"per-modality tokens {name!r} must be (M={m}, n, D), got {tuple(extra.shape)}")
            return extra.unsqueeze(0).expand(b, -1, -1, -1).reshape(b * m, extra.shape[1], d)
        if extra.dim() == 2:  # (n, D): the same tokens for every sequence
            return extra.unsqueeze(0).expand(b * m, -1, -1)
        if extra.dim() == 3 and extra.shape[0] == b * m:  # (B*M, n, D)
            return extra
        if extra.dim() == 3 and extra.shape[0] == b:  # (B, n, D): per sample, shared by its modalities
            return extra.repeat_interleave(m, dim=0)
        if extra.dim() == 4 and extra.shape[:2] == (b, m):  # (B, M, n, D)
            return extra.reshape(b * m, extra.shape[2], d)
        raise ValueError(f"tokens {name!r} have shape {tuple(extra.shape)}; expected (n, D), (B, n, D), "
                         f"(B*M, n, D), (B, M, n, D) or, with per_modality=True, (M, n, D) (B={b}, M={m})")

    def add_tokens(self, name: str, extra: torch.Tensor, *, pos_embed: Optional[torch.Tensor] = None,
                   per_modality: bool = False) -> None:
        """Append tokens under ``name`` to every sequence.

        Args:
            extra: ``(n, D)`` (shared), ``(B, n, D)`` (per sample), ``(B * M, n, D)``, ``(B, M, n, D)``, or
                ``(M, n, D)`` with ``per_modality=True`` (one set per modality, shared by the batch).
            pos_embed: ``(n, D)`` or ``(1, D)`` positional embedding added to the new tokens (e.g. the CLS
                row ``encoder.positional_embedding[:1]`` for tokens that share the CLS position, as MUVA's
                local tokens do). Only meaningful during token embedding (:func:`lreid_vision_embed_tokens`),
                where ``ln_pre`` is still to come.

        Raises:
            ValueError: ``name`` already present, or a shape or width that does not fit.
        """
        if name in self.spans:
            raise ValueError(f"tokens {name!r} already added; pop them first")
        extra = self._expand(name, extra, per_modality).to(self.tokens.dtype)
        if pos_embed is not None:
            extra = extra + pos_embed.to(extra.dtype)
        start = self.tokens.shape[1]
        self.tokens = torch.cat([self.tokens, extra], dim=1)
        self.spans[name] = (start, start + extra.shape[1])

    def get_tokens(self, name: str, view: bool = False) -> torch.Tensor:
        """The tokens of span ``name`` as transformed so far: ``(B * M, n, D)``, or ``(B, M, n, D)`` with
        ``view``.

        Raises:
            KeyError: no such span (the message lists the spans present).
        """
        if name not in self.spans:
            raise KeyError(f"no token span {name!r}; spans present: {', '.join(self.spans)}")
        s, e = self.spans[name]
        x = self.tokens[:, s:e]
        return x.view(self.batch_size, self.num_modalities, e - s, -1) if view else x

    def set_tokens(self, name: str, value: torch.Tensor) -> None:
        """Replace the content of span ``name`` (same shapes as :meth:`add_tokens` accepts, same ``n``),
        e.g. to exchange fusion tokens between modalities or add a camera embedding to ``cls``."""
        s, e = self.spans[name]
        value = self._expand(name, value, per_modality=False).to(self.tokens.dtype)
        if value.shape[1] != e - s:
            raise ValueError(f"span {name!r} holds {e - s} tokens, got {value.shape[1]}")
        self.tokens = torch.cat([self.tokens[:, :s], value, self.tokens[:, e:]], dim=1)

    def pop_tokens(self, name: str) -> torch.Tensor:
        """Remove span ``name`` and return its ``(B * M, n, D)`` tokens.

        Raises:
            ValueError: ``name`` is a base span (``cls``, ``patches``).
        """
        if name in BASE_SPANS:
            raise ValueError(f"span {name!r} belongs to the encoder and cannot be removed")
        out = self.get_tokens(name)
        s, e = self.spans.pop(name)
        self.tokens = torch.cat([self.tokens[:, :s], self.tokens[:, e:]], dim=1)
        n = e - s
        self.spans = {k: ((a - n, b - n) if a >= e else (a, b)) for k, (a, b) in self.spans.items()}
        return out

    def extra_spans(self) -> list[str]:
        """Names of the spans plugins added (not ``cls`` / ``patches``), in sequence order."""
        return [k for k, _ in sorted(self.spans.items(), key=lambda kv: kv[1][0]) if k not in BASE_SPANS]

    def describe(self) -> str:
        """``VisionContext(B=8, M=1, N=9, D=192, layer=0, spans=[cls, patches])`` (for hook traces)."""
        return (f"VisionContext(B={self.batch_size}, M={self.num_modalities}, N={self.num_tokens}, D={self.width}, "
                f"layer={self.layer_index}, spans=[{', '.join(self.spans)}])")

    # ------------------------------------------------------------------ records
    def record(self, name: str, value) -> None:
        """Keep ``value`` under ``name`` (one entry per call, e.g. per layer); the model returns all records
        as ``outputs["records"][name]`` (a list) for the plugin's loss."""
        self.records[name].append(value)
