"""VLADR as the paper describes it and as its released code computes it, component by component.

The paper (CVPR 2026) and the released code (github.com/zhoujiahuan1991/CVPR2026-VLADR, commit a48c88f)
differ in most components. :data:`COMPONENTS` lists them with the code file each official behaviour was read
from and the plugin setting that selects it; ``status`` says whether the official form is implemented yet.
The README's table is :func:`markdown_table` (a test keeps them equal):

    python -m lifelong_reid.plugins.vladr.components
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    """One difference between the paper and the released code.

    Attributes:
        name: the component. paper: what the paper describes. official: what the released code computes.
        source: the released file it was read from. setting: the plugin settings (or stream / command) of the
            paper form and of the official form. status: ``"done"`` or what is still missing.
    """

    name: str
    paper: str
    official: str
    source: str
    setting: str
    status: str = "done"


COMPONENTS = (
    Component("weight mixing after each domain", "not described",
              "0.6 x new + 0.4 x old over the state dict, classifier rows of earlier identities too",
              "train_stage2.py (linear_combination, best_alpha)",
              "`weight_interpolation=0.6`, `interpolate_classifier=True` (`None`: off)"),
    Component("forgetting control", "attribute prototype memory + IDA loss",
              "KL between old and new per-part region affinities (diagonal kept, T 0.005, batch-mean)",
              "reid/trainer_stage2.py (get_normal_affinity, cal_KL_old)",
              "paper: `ida=True`; official: `ida=False, affinity_kl=True, kl_features='regions', "
              "kl_temperature=0.005`"),
    Component("text attribute features t_k", "learnt global + attribute prompts (MTAD), orthogonality loss",
              "frozen CLIP text feature of each BLIP-2 part caption (head, upper, lower, foot)",
              "reid/models/BLIP_gen.py (Text_feat_Pool)",
              "paper: `mtad=True`; official: `mtad=False, caption_parts=True, num_attributes=4`"),
    Component("captions", "BLIP-2 descriptions", "BLIP-2 OPT-2.7b answers 11 questions filling 4 part templates",
              "reid/models/BLIP_gen.py; _BLIP_TEXT_DESC/*_description.txt",
              "`lreid caption --style vladr`; `load_captions('..._description.txt')`"),
    Component("cross-modal attribute alignment", "sum_k dist(v_k, t_k)",
              "per part: symmetric cross-entropy over the batch, each image to its own caption, cosine logits",
              "reid/trainer_stage2.py (loss_img_txt_fine)", "paper: `cma_form='distance'`; official: "
              "`cma_form='instance'`"),
    Component("coarse image-text loss", "image-to-text identity loss",
              "normalised projected CLS against the batch identities' stage-1 prompts, scale 1",
              "reid/trainer_stage2.py (loss_image_text_coarse)",
              "official: `identity_prompts=True, i2t_classes='batch', i2t_temperature=1.0`"),
    Component("stage 1", "MTAD prompt learning", "plain CLIP-ReID stage 1 per domain: 4 context tokens per "
              "identity, SupCon i2t + t2i at temperature 1 on unnormalised features, Adam lr 3.5e-3, weight decay "
              "1e-4, 120 epochs", "train_stage1.py; reid/models/CLIP_ReID",
              "paper: `mtad=True`; official: `identity_prompts=True, stage1_lr=3.5e-3, stage1_weight_decay=1e-4`",
              "partly: constant learning rate over random batches of images (the release: a per-iteration "
              "WarmupMultiStepLR over its P x K loader)"),
    Component("region features v_k", "attribute queries over patch tokens",
              "4 queries, 8-head cross-attention without residual or LayerNorm over the projected patch tokens, "
              "then a 512 -> 512 projection", "reid/models/CrossAttention.py; make_model_clipreid.py",
              "paper: `region_module='queries'`; official: `region_module='official'`"),
    Component("ReID losses", "identity + triplet",
              "CE without label smoothing on the 768-d BNNeck classifier only; soft-margin batch-hard triplet on "
              "the 512-d pre-BN projection only; on a weak and a strong view (RandAugment(2, 10), reflect-pad crop)",
              "reid/trainer_stage2.py; lreid_dataset/datasets/get_data_loaders.py",
              "official: `reid_heads='official', strong_view=True` (the view through `lreid_train_views`), run "
              "`label_smoothing=0, triplet_margin=null`",
              "partly: torchvision's RandAugment(2, 10), not FixMatch's RandAugmentMC with Cutout"),
    Component("classifier growth", "not described",
              "one classifier over every seen identity; new identities' rows initialised from L2-normalised class "
              "means of post-BN features", "train_stage2.py (expand_linear_head, initial_classifier)",
              "run `classifier='grow'`; plugin `classifier_init='class_mean'`"),
    Component("optimisation", "not described",
              "Adam lr 5e-6 (bias 1e-5), weight decay 1e-4 (0 on region attention), WarmupMultiStepLR stepped per "
              "iteration (10 warm-up iterations from 0.01, x0.1 after iteration 30), fp32",
              "train_stage2.py (make_optimizer_stage2)",
              "run `OFFICIAL_RUN` (`scheduler_step='iteration'`, `milestones=[30]`, ...); plugin "
              "`region_weight_decay=0`"),
    Component("data", "not described",
              "batch 16 x 4 with a camera-diverse sampler; ImageNet mean/std; random erasing 0.5 then 0.3",
              "get_data_loaders.py; reid/utils/data/sampler.py",
              "`official_transforms` (`plugins/vladr/augment.py`); run `sampler='pk_camera'`, batch 16 x 4 "
              "(`OFFICIAL_RUN`)"),
    Component("test feature", "not described", "cat[BN(768), BN(512)], L2-normalised, squared Euclidean",
              "reid/evaluation", "run `neck_feat='after', eval_metric='euclidean'`"),
    Component("data selection", "500 identities per domain",
              "first 500 relabelled pids (Python set order), CUHK-SYSU >= 4 images, CUHK03 labeled",
              "lreid_dataset/datasets/get_data_loaders.py; cuhksysu.py; cuhk03.py",
              "`lreid-setting1` / `lreid-setting2` (earlier rule: `lreid-setting1-smallest`)"),
)


def markdown_table() -> str:
    """The README's component table."""
    lines = ["| component | paper | released code | code file | setting | official form |",
             "|---|---|---|---|---|---|"]
    for c in COMPONENTS:
        lines.append(f"| {c.name} | {c.paper} | {c.official} | {c.source} | {c.setting} | {c.status} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
