"""FIRM (Rong et al., "FIRM: Fusion-Injected Residual Memory Brings Token-Level Alignment to Unsupervised
VI-ReID", ACML 2025, PMLR 304; ``../shared/papers/FIRM_unsupervised_VI-ReID_ACML2025.txt``) as a plugin on the
common strategy, for unsupervised visible-infrared experiences. This is the first public implementation: the
paper's code is not released and only its abstract is published.

What follows the abstract: the two modules and the three losses it names -- Vision-Semantic Prompt Fusion
(VSPF: textual cues from CLIP and LLMs injected into several layers of the vision backbone), the Evolving
Multi-view Cluster Memory (EMCM: optimal-transport-guided clustering and dynamic prototype maintenance), an
OT-weighted InfoNCE, a multi-layer alignment regularizer and a geometric cluster regularizer, trained end to end
without labels.

What is this library's design, each grounded in the closest public methods (facts in
``../shared/design/notes/unsupervised-vi-reid.md``):

- ``clustering.py``: per-modality k-reciprocal Jaccard + DBSCAN (ADCA / PGM's baseline, their parameters);
- ``matching.py``: infrared clusters matched to visible ones by unbalanced entropic OT (POT), with balanced
  Sinkhorn (OTLA), exact EMD and PGM's Hungarian matching as the alternatives;
- ``memory.py``: a memory per modality with ``S`` sub-centres per cluster (MMM's multi-memory), momentum
  updates after each optimizer step (ClusterContrast), and prototypes and identity prompts carried across
  re-clustering by transporting the old centres onto the new ones;
- ``losses.py``: ClusterNCE within a modality, the cross-modal InfoNCE with the transport plan's rows as soft
  targets, the alignment regularizer as CLIP's image-to-text InfoNCE at every injected layer, the geometric
  regularizer as uniformity (Wang & Isola) plus compactness;
- ``vspf.py``: modality templates, part / attribute sentences (an LLM-written file when given) and per-cluster
  learnable prompts (CLIP-ReID / CCLNet) projected per layer (MaPLe's coupling) and read by the image tokens
  through a cross-attention whose output enters through a zero-initialised tanh gate (Flamingo); part-level cues
  in shallow blocks, identity-level in deep ones;
- ``plugin.py``: :class:`FIRMPlugin`, the hooks that tie them to the strategy.

Usage: ``config = RunConfig(..., plugins={"firm": {}})`` or ``lreid run EXPERIMENT --plugin firm --set
firm.matching=hungarian``; registered as ``firm`` through the ``lifelong_reid.plugins`` entry-point group
(:data:`PLUGIN`).
"""
from lifelong_reid import __version__
from lifelong_reid.plugins.firm.matching import ClusterMatch, match_clusters
from lifelong_reid.plugins.firm.plugin import LOSS_NAMES, FIRMConfig, FIRMPlugin
from lifelong_reid.registry import PluginInfo

PLUGIN = PluginInfo(
    name="firm", factory=FIRMPlugin, settings=FIRMConfig, version=__version__, kind="method", loss_names=LOSS_NAMES,
    description="FIRM: OT-matched per-modality clusters with an evolving multi-view memory, OT-weighted InfoNCE "
                "and vision-semantic prompt fusion (unsupervised visible-infrared ReID)",
    contract={"stream": "vi-unsupervised", "settings": {"min_samples": 2, "k1": 4, "k2": 2, "eps": 0.7}})

__all__ = ["PLUGIN", "FIRMPlugin", "FIRMConfig", "ClusterMatch", "match_clusters"]
