"""VLADR (Vision-Language Attribute Disentanglement and Reinforcement for lifelong ReID, CVPR 2026;
``../shared/papers/VLADR_lifelong_ReID_CVPR2026.txt``) as plugins on the common strategy.

Components (each its own module):

- ``prompts.py``: Multi-granular Textual Attribute Disentanglement (MTAD): a global prompt and ``K`` local
  attribute prompts read together with an image's caption by the CLIP text encoder, giving one global and
  ``K`` attribute text features per caption; the attribute orthogonality loss; the random-partition
  ablation (attribute features from random disjoint word groups of the caption instead of prompts);
- ``visual.py``: per-attribute visual features ``v_k`` (``K`` learnable queries cross-attending to the
  image encoder's patch tokens);
- ``memory.py``: the attribute prototype memory (one prototype per attribute per learnt domain, EMA);
- ``losses.py``: cross-modal attribute alignment ``L_CMA``, cross-domain attribute alignment ``L_IDA``, the
  old/new affinity KL term;
- ``plugin.py``: :class:`VLADRPlugin` wiring them into the strategy's hooks (stage-1 prompt training per
  domain, stage-2 losses, memory, weight interpolation, checkpoints) and the ablation rows.

Usage in an experiment file::

    from lifelong_reid.plugins.vladr import VLADRConfig, VLADRPlugin
    plugins = [VLADRPlugin(VLADRConfig())]
"""
from lifelong_reid.plugins.vladr.plugin import ABLATIONS, VLADRConfig, VLADRPlugin, ablation_config

__all__ = ["VLADRPlugin", "VLADRConfig", "ABLATIONS", "ablation_config"]
