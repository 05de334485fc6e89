"""The MambaPro plugin: a frozen CLIP image encoder shared by the modalities, adapted by Parallel Feed-Forward
Adapters (PFA), Synergistic Residual Prompts (SRP) and a camera embedding, with Mamba Aggregation (MA) of the
modalities' tokens into the fused feature (the paper, Sec. 3; its code ``924973292/MambaPro`` as read in
``../shared/design/notes/multimodal-reid.md`` section 1).

Shapes: ``B`` batch, ``M`` modalities, ``L`` blocks, ``n`` prompt tokens per modality (4), ``D`` encoder width,
``E`` projection width, ``G`` patches.

- **PFA** (every block): ``x = x + MLP(LN2(x)) + A(x)`` with ``A = Linear(D, 2D), QuickGELU, Linear(2D, D)``
  reading the hidden state after the attention residual (``add_adapter(branch="mlp", input="block")``).
- **SRP** (every block ``i``, stream of modality ``m``): ``M`` groups of ``n`` prompt tokens appended after
  ``[CLS, patches]`` in modality order; group ``o != m`` is ``P_o^i + T_o^i(P_o^i)``; the own group is ``P_m^0``
  at block 0 and ``last_m + T^i(last_m) + P_m^i`` after, where ``last_m`` is the mean of the stream's ``M`` output
  groups of the previous block. Prompts are zero-initialised; ``T`` are ``Linear(D, D/2), QuickGELU,
  Linear(D/2, D)``; the prompts leave the sequence after each block.
- **Camera embedding** (the code's SIE): a learnt ``(cameras, D)`` table added to every modality's CLS token.
- **MA** (:mod:`.aggregation`): over the projected (``ln_post`` then ``proj``) patch tokens; the fused feature is
  ``(B, M * E)``. Without MA (ablation) the fused feature is the concatenated projected CLS tokens.
- **Heads and losses** (the code's ``make_loss``): BNNeck + classifier on the fused feature, and on the
  concatenated CLS tokens (``direct``, RGBNT201) or on each modality's CLS (vehicles); identity (weight
  ``config.id_weight``, the recipe 0.25) and soft-margin batch-hard triplet (``config.triplet_weight`` 1.0,
  ``triplet_margin=None``) on each. The test feature is the fused feature before BNNeck.
- Everything of the image encoder is frozen except what the plugin adds (``freeze_encoder``; the code's
  ``mark_only_lora_as_trainable``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import torch
from open_clip.transformer import QuickGELU
from torch import nn

from lifelong_reid.errors import ConfigError
from lifelong_reid.hooks import hookimpl
from lifelong_reid.models.adapters import bottleneck_adapter
from lifelong_reid.plugins.mambapro.aggregation import MambaAggregation
from lifelong_reid.plugins.mambapro.scan import BACKENDS

#: Names under which the plugin's encoder parameters live (the freezing rule keeps these trainable).
PREFIXES = ("mambapro_", "adapters.mambapro_pfa")


@dataclass
class MambaProConfig:
    """MambaPro's settings (defaults: the paper's full model and its code).

    Attributes:
        num_modalities: ``M`` of the stream's tuples (RGB/NIR/TIR: 3).
        pfa: the Parallel Feed-Forward Adapters. pfa_hidden: adapter width as a multiple of ``D`` (2).
        srp: the Synergistic Residual Prompts. prompt_tokens: ``n`` per modality (4). transfer_hidden: the
            transfer MLPs' width as a fraction of ``D`` (0.5).
        ma: the Mamba Aggregation. ma_layers: intra+inter layers (2). ma_state: SSM state size (16).
            ma_expand: inner channels per token channel (2). ma_dt_rank: rank of the step-size projection (32).
        scan_backend: ``"auto"`` (mamba_ssm's kernel on CUDA when installed, else mambapy), ``"kernel"``,
            ``"torch"``.
        camera_embedding: add the learnt camera embedding to the CLS tokens. camera_scale: its weight (the
            code's ``SIE_COE`` 1.0). num_cameras: rows of the table; 0 = from the first training experience
            (largest camid + 1). Cameras beyond the table (an unseen test camera) get no embedding.
        direct: the second loss pair on the concatenated CLS tokens (RGBNT201's ``DIRECT=1``) instead of one per
            modality (vehicles' ``DIRECT=0``).
        freeze_encoder: freeze every image-encoder parameter the plugin did not add.
    """

    num_modalities: int = 3
    pfa: bool = True
    pfa_hidden: float = 2.0
    srp: bool = True
    prompt_tokens: int = 4
    transfer_hidden: float = 0.5
    ma: bool = True
    ma_layers: int = 2
    ma_state: int = 16
    ma_expand: int = 2
    ma_dt_rank: int = 32
    scan_backend: str = "auto"
    camera_embedding: bool = True
    camera_scale: float = 1.0
    num_cameras: int = 0
    direct: bool = True
    freeze_encoder: bool = True

    def __post_init__(self):
        if self.scan_backend not in BACKENDS:
            raise ConfigError(f"mambapro scan_backend must be one of {', '.join(BACKENDS)}, got {self.scan_backend!r}")
        for name in ("num_modalities", "prompt_tokens", "ma_layers", "ma_state", "ma_expand", "ma_dt_rank"):
            if getattr(self, name) < 1:
                raise ConfigError(f"mambapro {name} must be >= 1, got {getattr(self, name)}")
        if self.num_cameras < 0 or self.pfa_hidden <= 0 or self.transfer_hidden <= 0:
            raise ConfigError("mambapro num_cameras must be >= 0, pfa_hidden and transfer_hidden > 0")


def transfer_mlp(width: int, hidden: int) -> nn.Sequential:
    """``Linear(D, hidden), QuickGELU, Linear(hidden, D)``, truncated-normal (0.02) weights, zero biases."""
    mlp = nn.Sequential(nn.Linear(width, hidden), QuickGELU(), nn.Linear(hidden, width))
    for layer in (mlp[0], mlp[2]):
        nn.init.trunc_normal_(layer.weight, std=0.02)
        nn.init.zeros_(layer.bias)
    return mlp


def trainable_parameters(module: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts of ``module``."""
    return (sum(p.numel() for p in module.parameters() if p.requires_grad),
            sum(p.numel() for p in module.parameters()))


class MambaProPlugin:
    """The MambaPro method (``plugins={"mambapro": {...}}``, ``--plugin mambapro``). See the module docstring."""

    name = "mambapro"

    def __init__(self, config: Optional[MambaProConfig] = None):
        self.cfg = config or MambaProConfig()
        self.num_cameras = self.cfg.num_cameras

    # ------------------------------------------------------------------ model
    @hookimpl
    def lreid_adapt_model(self, model, experience):
        vis, cfg = model.visual, self.cfg
        device = vis.positional_embedding.device
        d, m = vis.width, cfg.num_modalities
        if cfg.pfa and "mambapro_pfa" not in vis.adapters:
            hidden = round(cfg.pfa_hidden * d)
            vis.add_adapter("mambapro_pfa", lambda layer: bottleneck_adapter(d, hidden, act=QuickGELU, zero_init=False),
                            branch="mlp", input="block")
        if cfg.srp and not hasattr(vis, "mambapro_prompts"):
            vis.mambapro_prompts = nn.Parameter(torch.zeros(vis.num_layers, m, cfg.prompt_tokens, d, device=device))
            hidden = round(cfg.transfer_hidden * d)
            # per block: one transfer MLP per modality (T_o), then the residual one (T)
            vis.mambapro_transfer = nn.ModuleList(
                nn.ModuleList(transfer_mlp(d, hidden) for _ in range(m + 1)) for _ in range(vis.num_layers)).to(device)
        if cfg.camera_embedding and not hasattr(vis, "mambapro_camera"):
            if not self.num_cameras and experience is not None:
                self.num_cameras = int(max(experience.dataset.camids)) + 1
            if self.num_cameras:
                table = torch.empty(self.num_cameras, d, device=device)
                vis.mambapro_camera = nn.Parameter(nn.init.trunc_normal_(table, std=0.02))
        e = vis.proj.shape[1] if vis.proj is not None else d
        if cfg.ma and not hasattr(model, "mambapro_ma"):
            model.mambapro_ma = MambaAggregation(e, vis.grid, m, cfg.ma_layers, cfg.ma_expand, cfg.ma_state,
                                                 cfg.ma_dt_rank, cfg.scan_backend).to(device)
        model.add_head("mambapro", m * e, id_loss=True, triplet=True, owner=self.name)
        if cfg.ma and cfg.direct:
            model.add_head("mambapro_ori", m * e, id_loss=True, triplet=True, owner=self.name)
        if not cfg.direct:
            for j in range(m):
                model.add_head(f"mambapro_m{j}", e, id_loss=True, triplet=True, owner=self.name)
        for head in ("global", "global_proj"):
            model.set_head_losses(head, id_loss=False, triplet=False)
        if cfg.freeze_encoder:
            for name, p in vis.named_parameters():
                p.requires_grad_(name.startswith(PREFIXES))

    # ------------------------------------------------------------------ vision forward
    def _check(self, context) -> None:
        if context.num_modalities != self.cfg.num_modalities:
            raise ConfigError(f"mambapro num_modalities is {self.cfg.num_modalities} but the batch holds "
                              f"{context.num_modalities} per sample; set mambapro.num_modalities="
                              f"{context.num_modalities} (MambaPro needs multi-modal tuples)")

    @hookimpl
    def lreid_vision_embed_tokens(self, context, encoder):
        table = getattr(encoder, "mambapro_camera", None)
        if table is None or context.batch is None:
            return
        cams = context.batch.camids.to(table.device)
        known = (cams >= 0) & (cams < table.shape[0])
        emb = table[cams.clamp(0, table.shape[0] - 1)] * known[:, None].to(table.dtype)  # (B, D)
        emb = emb.repeat_interleave(context.num_modalities, dim=0)[:, None]  # (B*M, 1, D)
        context.set_tokens("cls", context.get_tokens("cls") + self.cfg.camera_scale * emb)

    @hookimpl
    def lreid_vision_block_start(self, layer_index, context, encoder):
        prompts = getattr(encoder, "mambapro_prompts", None)
        if prompts is None:
            return
        self._check(context)
        b, m, i = context.batch_size, context.num_modalities, layer_index
        p, t = prompts[i], encoder.mambapro_transfer[i]  # (M, n, D); M + 1 MLPs
        others = torch.stack([p[o] + t[o](p[o]) for o in range(m)])  # (M, n, D): group o seen by the others
        if i == 0:
            own = p.unsqueeze(0).expand(b, -1, -1, -1)  # (B, M, n, D)
        else:
            last = context.records["mambapro_last"][-1]  # (B, M, n, D)
            own = last + t[m](last) + p
        groups = others.expand(b, m, *others.shape).clone()  # (B, stream M, group M, n, D)
        idx = torch.arange(m, device=groups.device)
        groups[:, idx, idx] = own
        context.add_tokens("mambapro_prompts", groups.flatten(2, 3))  # (B, M, M*n, D)

    @hookimpl
    def lreid_vision_block_end(self, layer_index, context):
        if "mambapro_prompts" not in context.spans:
            return
        out = context.pop_tokens("mambapro_prompts")  # (B*M, M*n, D)
        b, m = context.batch_size, context.num_modalities
        context.record("mambapro_last", out.view(b, m, m, -1, out.shape[-1]).mean(2))  # (B, M, n, D)

    @hookimpl
    def lreid_model_outputs(self, outputs, context, model):
        if "mambapro" not in model.heads:
            return
        self._check(context)
        vis = model.visual
        x = vis.project(context.tokens).view(context.batch_size, context.num_modalities, context.num_tokens, -1)
        s, e = context.spans["patches"]
        cls, patches = x[:, :, 0], x[:, :, s:e]  # (B, M, E), (B, M, G, E)
        ori = cls.flatten(1)
        outputs["mambapro"] = model.mambapro_ma(cls, patches) if self.cfg.ma else ori
        if self.cfg.ma and self.cfg.direct:
            outputs["mambapro_ori"] = ori
        if not self.cfg.direct:
            for j in range(context.num_modalities):
                outputs[f"mambapro_m{j}"] = cls[:, j]

    @hookimpl
    def lreid_inference_embedding(self, outputs):
        return outputs.get("mambapro")

    # ------------------------------------------------------------------ checkpoints
    @hookimpl
    def lreid_state_dict(self):
        return {"mambapro": {"config": asdict(self.cfg), "num_cameras": self.num_cameras}}

    @hookimpl
    def lreid_load_state_dict(self, state):
        mine = state.get("mambapro")
        if mine:
            self.num_cameras = int(mine["num_cameras"])
