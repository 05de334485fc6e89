"""Four small plugins with the shapes of the coming methods, written against the public Plugin API only
(hooks, ``VisionContext``, ``model.add_head``, ``model.visual.add_adapter``, ``ReIDBatch``, the strategy's
``embed`` / targets). They are tests of the API, not implementations of the papers.

- :class:`LocalTokensPlugin` (MUVA's shape): three local tokens sharing the CLS positional embedding, a
  per-layer ``(B, N, N)`` attention mask computed by a cross-attention branch, per-layer mask logits kept in
  ``context.records`` and fed to a named loss supervised by the batch's part boxes;
- :class:`FusionTokensPlugin` (GraFT's shape): one fusion token per modality, averaged over modalities at
  every layer on the ``(B, M, ...)`` views, per-modality encoder stacks, a fused head;
- :class:`AdapterPromptsPlugin` (MambaPro's shape): a parallel adapter on every block's MLP of a frozen
  encoder plus per-layer per-modality prompts;
- :class:`ClusterPseudoLabels` (FIRM's shape): k-means pseudo-labels of the features before every epoch of
  an unsupervised stream.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lifelong_reid import hookimpl
from lifelong_reid.models import bottleneck_adapter


# --------------------------------------------------------------------------- (a) MUVA's shape


class MaskBranch(nn.Module):
    """Per layer: cross-attention from the local tokens to the patches, then an MLP giving one logit per
    (part, patch); logits accumulate over layers (MUVA's residual mask prediction)."""

    def __init__(self, width: int, layers: int, heads: int = 2, hidden: int = 32):
        super().__init__()
        self.norm_q = nn.ModuleList(nn.LayerNorm(width) for _ in range(layers))
        self.norm_kv = nn.ModuleList(nn.LayerNorm(width) for _ in range(layers))
        self.attn = nn.ModuleList(nn.MultiheadAttention(width, heads, batch_first=True) for _ in range(layers))
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
                                 for _ in range(layers))

    def forward(self, layer: int, local: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """``(S, 3, D)`` local tokens, ``(S, G, D)`` patches -> ``(S, 3, G)`` this layer's logit increment."""
        q, kv = self.norm_q[layer](local), self.norm_kv[layer](patches)
        r = self.attn[layer](q, kv, kv, need_weights=False)[0] + local
        return torch.einsum("spd,sgd->spg", self.mlp[layer](r), kv) / math.sqrt(local.shape[-1])


def box_targets(boxes: torch.Tensor, grid: tuple, image_size: tuple) -> torch.Tensor:
    """``(B, P, 4)`` part boxes in pixels -> ``(B, P, G)`` 1 where a patch centre lies in the box (NaN boxes
    give 0)."""
    gh, gw = grid
    h, w = image_size
    ys = (torch.arange(gh, dtype=torch.float32) + 0.5) * h / gh
    xs = (torch.arange(gw, dtype=torch.float32) + 0.5) * w / gw
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    cy, cx = cy.flatten().to(boxes.device), cx.flatten().to(boxes.device)
    x0, y0, x1, y1 = (boxes[..., i, None] for i in range(4))
    inside = (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)
    return inside.float()


class LocalTokensPlugin:
    """MUVA's shape: local tokens, a mask branch, per-layer records, a mask loss, a parts head. Its modules
    live on the encoder (``encoder.shape_muva_local``, ``encoder.shape_muva_branch``); before
    ``lreid_adapt_model`` has run (the initial evaluation) its hooks do nothing."""

    name = "shape_muva"
    loss_names = ("shape_muva_mask",)
    side_info = ("part_boxes",)  # declared: the strategy puts the boxes in the training batches

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    @hookimpl
    def lreid_adapt_model(self, model):
        vis = model.visual
        if not hasattr(vis, "shape_muva_local"):
            vis.shape_muva_local = nn.Parameter(torch.randn(3, vis.width) * 0.02)
            vis.shape_muva_branch = MaskBranch(vis.width, vis.num_layers)
        model.add_head("shape_muva_parts", 3 * vis.output_dim, retrieval=True, owner=self.name)

    @hookimpl
    def lreid_vision_embed_tokens(self, context, encoder):
        if hasattr(encoder, "shape_muva_local"):
            context.add_tokens("local", encoder.shape_muva_local, pos_embed=encoder.positional_embedding[:1])

    @hookimpl
    def lreid_vision_attention_mask(self, layer_index, context, encoder):
        if "local" not in context.spans:
            return None
        local, patches = context.get_tokens("local"), context.get_tokens("patches")
        step = encoder.shape_muva_branch(layer_index, local, patches)
        logits = step if layer_index == 0 else context.records["shape_muva_logits"][-1] + step
        context.record("shape_muva_logits", logits)
        allowed = torch.sigmoid(logits.detach()) > self.threshold  # (S, 3, G): the gate carries no gradient
        gate = torch.zeros(allowed.shape, dtype=context.tokens.dtype, device=allowed.device)
        gate[~allowed] = float("-inf")
        s, n = context.tokens.shape[0], context.num_tokens
        (ls, le), (ps, pe) = context.spans["local"], context.spans["patches"]
        mask = torch.zeros(s, n, n, dtype=context.tokens.dtype, device=context.tokens.device)
        mask[:, ls:le, ls:le] = float("-inf")
        idx = torch.arange(ls, le)
        mask[:, idx, idx] = 0.0  # each local token sees itself and CLS: an empty gate cannot give NaN
        mask[:, ls:le, ps:pe] = gate
        mask[:, ps:pe, ls:le] = gate.transpose(1, 2)  # symmetric, as MUVA's code
        return mask

    @hookimpl
    def lreid_model_outputs(self, outputs, context, model):
        if "local" in context.spans:
            outputs["shape_muva_parts"] = model.visual.project(context.get_tokens("local")).flatten(1)  # (B, 3E)

    @hookimpl
    def lreid_extra_losses(self, outputs, batch):
        if "part_boxes" not in batch.side or "shape_muva_logits" not in outputs["records"]:
            return None
        ctx = outputs["context"]
        target = box_targets(batch.side["part_boxes"], ctx.grid, tuple(batch.images.shape[-2:]))
        logits = torch.stack(outputs["records"]["shape_muva_logits"])  # (L, B, 3, G)
        return {"shape_muva_mask": F.binary_cross_entropy_with_logits(logits, target.expand_as(logits))}


# --------------------------------------------------------------------------- (b) GraFT's shape


class FusionTokensPlugin:
    """GraFT's shape: a fusion token per modality, exchanged at every layer; the fused head."""

    name = "shape_graft"

    @hookimpl
    def lreid_adapt_model(self, model):
        vis = model.visual
        if not hasattr(vis, "shape_graft_fusion"):
            vis.shape_graft_fusion = nn.Parameter(nn.init.xavier_uniform_(torch.empty(1, vis.width)))
        model.add_head("shape_graft_fused", vis.width, owner=self.name)

    @hookimpl
    def lreid_vision_block_start(self, layer_index, context, encoder):
        if layer_index == 0 and hasattr(encoder, "shape_graft_fusion"):
            token = encoder.shape_graft_fusion
            context.add_tokens("fusion", token.expand(context.num_modalities, 1, -1), per_modality=True)

    @hookimpl
    def lreid_vision_exchange(self, layer_index, context):
        if "fusion" in context.spans:
            f = context.get_tokens("fusion", view=True)  # (B, M, 1, D)
            context.set_tokens("fusion", f.mean(1, keepdim=True).expand_as(f))

    @hookimpl
    def lreid_model_outputs(self, outputs, context, model):
        if "fusion" in context.spans:
            fused = context.get_tokens("fusion", view=True).mean(1)[:, 0]  # (B, D)
            outputs["shape_graft_fused"] = model.visual.ln_post(fused)


# --------------------------------------------------------------------------- (c) MambaPro's shape


class AdapterPromptsPlugin:
    """MambaPro's shape: frozen encoder, a parallel adapter on every block's MLP, per-layer per-modality
    prompts (4 tokens each, zero-initialised)."""

    name = "shape_mambapro"

    def __init__(self, num_modalities: int = 3, prompt_tokens: int = 4):
        self.m, self.n = num_modalities, prompt_tokens

    @hookimpl
    def lreid_adapt_model(self, model):
        vis = model.visual
        if "shape_pfa" not in vis.adapters:
            for p in vis.parameters():
                p.requires_grad_(False)
            d = vis.width
            vis.add_adapter("shape_pfa", lambda layer: bottleneck_adapter(d, 2 * d, zero_init=False),
                            branch="mlp", input="block")
            vis.shape_prompts = nn.Parameter(torch.zeros(vis.num_layers, self.m, self.n, d))

    @hookimpl
    def lreid_vision_block_start(self, layer_index, context, encoder):
        if hasattr(encoder, "shape_prompts") and context.num_modalities == self.m:
            context.add_tokens("prompts", encoder.shape_prompts[layer_index], per_modality=True)

    @hookimpl
    def lreid_vision_block_end(self, layer_index, context):
        if "prompts" in context.spans:
            context.pop_tokens("prompts")


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    return (sum(p.numel() for p in model.parameters() if p.requires_grad),
            sum(p.numel() for p in model.parameters()))


# --------------------------------------------------------------------------- (d) FIRM's shape


class ClusterPseudoLabels:
    """FIRM's shape: before every epoch of an unsupervised experience, k-means (scikit-learn) clusters each
    modality's L2-normalised retrieval features, and the infrared clusters are matched one-to-one to the
    visible ones by the Hungarian algorithm on centroid similarity (PGM's matching, the baseline FIRM's
    optimal transport replaces); matched clusters share a target. The adjusted Rand index against the hidden
    true identities is kept per epoch."""

    name = "shape_firm"

    def __init__(self, clusters: int, seed: int = 0):
        self.clusters, self.seed = clusters, seed
        self.ari: list[float] = []

    @hookimpl
    def lreid_assign_targets(self, strategy, dataset, epoch, iteration):
        if iteration is not None or strategy.experience_is_supervised:
            return None
        import numpy as np
        from scipy.optimize import linear_sum_assignment
        from sklearn.cluster import KMeans
        from sklearn.metrics import adjusted_rand_score

        emb = strategy.embed(dataset, desc="clustering")
        feats = F.normalize(emb["feat"], dim=1).numpy()
        modality = np.array(emb["modality"])
        labels = np.zeros(len(feats), dtype=np.int64)
        centres = {}
        for offset, m in enumerate(sorted(set(modality), key=lambda x: x != "rgb")):  # visible first
            idx = np.flatnonzero(modality == m)
            km = KMeans(self.clusters, n_init=4, random_state=self.seed + epoch).fit(feats[idx])
            labels[idx] = km.labels_ + offset * self.clusters
            centres[offset] = km.cluster_centers_
        for offset in range(1, len(centres)):  # other modalities -> the visible clusters
            rows, cols = linear_sum_assignment(-centres[offset] @ centres[0].T)
            remap = np.arange(labels.max() + 1)
            remap[rows + offset * self.clusters] = cols
            labels = remap[labels]
        self.ari.append(adjusted_rand_score(emb["pids"].numpy(), labels))
        return torch.as_tensor(labels)
