"""MambaPro's Mamba Aggregation (MA, Sec. 3.4 of the paper; ``MP:modeling/fusion_part/AAM.py`` and ``mamba.py``):
selective state-space mixing of the modalities' patch tokens, first within each modality (intra), then over
the concatenation of all modalities (inter), in linear time in the number of tokens.

Shapes: ``B`` batch, ``M`` modalities, ``G = gh * gw`` patch tokens per modality, ``E`` token width (the CLIP
projection's output, 512 for ViT-B-16), ``C = expand * E`` inner channels, ``S`` state size.

One step (``MambaStep``), for each modality ``m``: ``x, z = in_proj_m(t_m)`` (``E -> 2C``, no bias); ``x`` through
a depthwise 3x3 convolution over the ``gh x gw`` grid, BatchNorm and SiLU (per modality); the selective scan
over the sequence (per modality for intra, one scan over ``[x_1; ...; x_M]`` (``M * G`` tokens) for inter);
LayerNorm; gate ``* silu(z)``; a shared ``out_proj`` (``C -> E``). A layer is ``t = t + intra(t)`` then
``t = t + inter(t)`` (residuals, no pre-norm, as the code). The output per modality is
``Linear(LN([cls_m, mean(t_m)]))`` (``2E -> E``) and the fused feature their concatenation ``(B, M * E)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from lifelong_reid.plugins.mambapro.scan import selective_scan


class SelectiveSSM(nn.Module):
    """The S6 layer of Mamba over ``(B, L, C)`` sequences: input-dependent ``delta, B, C`` from ``x_proj``,
    ``delta`` through ``dt_proj`` (softplus), ``A = -exp(A_log)``, skip ``D``, then LayerNorm (the code's
    ``out_norm``). Unidirectional (the code's default ``MAMBA_BI=False``).

    Args:
        channels: ``C``. state: ``S`` (16). dt_rank: rank of ``delta``'s projection (32). backend: the scan's
            (:func:`~lifelong_reid.plugins.mambapro.scan.selective_scan`).
    """

    def __init__(self, channels: int, state: int = 16, dt_rank: int = 32, backend: str = "auto"):
        super().__init__()
        self.state, self.dt_rank, self.backend = state, dt_rank, backend
        self.x_proj = nn.Linear(channels, dt_rank + 2 * state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, channels, bias=True)
        # S4D-real initialisation: A_n = -(n + 1) for every channel
        self.A_log = nn.Parameter(torch.log(torch.arange(1, state + 1, dtype=torch.float32)).repeat(channels, 1))
        self.D = nn.Parameter(torch.ones(channels))
        self.out_norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L, C)`` -> ``(B, L, C)``."""
        dt, b, c = self.x_proj(x).split([self.dt_rank, self.state, self.state], dim=-1)
        delta = dt @ self.dt_proj.weight.t()  # (B, L, C); the bias enters the scan as delta_bias
        y = selective_scan(x.transpose(1, 2), delta.transpose(1, 2), -torch.exp(self.A_log.float()),
                           b.transpose(1, 2), c.transpose(1, 2), self.D, delta_bias=self.dt_proj.bias,
                           delta_softplus=True, backend=self.backend)
        return self.out_norm(y.transpose(1, 2))


class MambaStep(nn.Module):
    """One intra- or inter-modality step (module docstring) over ``(B, M, G, E)`` tokens.

    Args:
        dim: ``E``. grid: ``(gh, gw)``. modalities: ``M``. mode: ``"intra"`` (one scan per modality, its own
            SSM) or ``"inter"`` (one SSM over the ``M * G`` concatenated tokens). expand: ``C / E`` (2).
    """

    def __init__(self, dim: int, grid: tuple, modalities: int, mode: str, expand: int = 2, state: int = 16,
                 dt_rank: int = 32, backend: str = "auto"):
        super().__init__()
        if mode not in ("intra", "inter"):
            raise ValueError(f"mode must be intra or inter, got {mode!r}")
        inner = expand * dim
        self.grid, self.mode = tuple(grid), mode
        self.in_proj = nn.ModuleList(nn.Linear(dim, 2 * inner, bias=False) for _ in range(modalities))
        self.conv = nn.ModuleList(nn.Sequential(nn.Conv2d(inner, inner, 3, padding=1, groups=inner),
                                                nn.BatchNorm2d(inner), nn.SiLU()) for _ in range(modalities))
        self.ssm = nn.ModuleList(SelectiveSSM(inner, state, dt_rank, backend)
                                 for _ in range(modalities if mode == "intra" else 1))
        self.out_proj = nn.Linear(inner, dim, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, M, G, E)`` -> ``(B, M, G, E)`` (the residual is the caller's)."""
        b, m, g, _ = tokens.shape
        gh, gw = self.grid
        if g != gh * gw or m != len(self.in_proj):
            raise ValueError(f"MambaStep built for {len(self.in_proj)} modalities of {gh}x{gw} tokens, got "
                             f"{tuple(tokens.shape)}")
        xs, zs = [], []
        for j in range(m):
            x, z = self.in_proj[j](tokens[:, j]).chunk(2, dim=-1)
            x = self.conv[j](rearrange(x, "b (h w) c -> b c h w", h=gh, w=gw))
            xs.append(rearrange(x, "b c h w -> b (h w) c"))
            zs.append(z)
        if self.mode == "intra":
            ys = [self.ssm[j](xs[j]) for j in range(m)]
        else:
            ys = list(self.ssm[0](torch.cat(xs, dim=1)).split(g, dim=1))
        return torch.stack([self.out_proj(y * F.silu(z)) for y, z in zip(ys, zs)], dim=1)


class MambaAggregation(nn.Module):
    """MA: ``layers`` x (intra step, inter step), then the per-modality output heads (module docstring).

    Args:
        dim: ``E``. grid: ``(gh, gw)`` patch grid. modalities: ``M``. layers: 2 (the code's ``AAM(512, 2)``).
        expand, state, dt_rank: the SSM's sizes (2, 16, 32). backend: the scan's.

    Linear layers are initialised with a truncated normal (std 0.02) and zero bias, as the code's
    ``AAM.apply`` does (which also overwrites Mamba's ``dt_proj`` initialisation).
    """

    def __init__(self, dim: int, grid: tuple, modalities: int, layers: int = 2, expand: int = 2, state: int = 16,
                 dt_rank: int = 32, backend: str = "auto"):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(MambaStep(dim, grid, modalities, mode, expand, state, dt_rank, backend)
                          for mode in ("intra", "inter")) for _ in range(layers))
        self.heads = nn.ModuleList(nn.Sequential(nn.LayerNorm(2 * dim), nn.Linear(2 * dim, dim))
                                   for _ in range(modalities))
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, cls: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """``cls (B, M, E)``, ``patches (B, M, G, E)`` -> the fused feature ``(B, M * E)``."""
        t = patches
        for intra, inter in self.layers:
            t = t + intra(t)
            t = t + inter(t)
        outs = [head(torch.cat([cls[:, j], t[:, j].mean(1)], dim=-1)) for j, head in enumerate(self.heads)]
        return torch.cat(outs, dim=-1)

