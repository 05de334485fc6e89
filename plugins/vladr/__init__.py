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

Usage: ``config = RunConfig(..., plugins={"vladr": {"stage1_epochs": 120}})`` in an experiment file, or
``lreid run EXPERIMENT --plugin vladr --set vladr.stage1_epochs=10``; registered as ``vladr`` through the
``lifelong_reid.plugins`` entry-point group (:data:`PLUGIN`), like a third-party plugin.
"""
from lifelong_reid import __version__
from lifelong_reid.plugins.vladr.plugin import (ABLATIONS, LOSS_NAMES, OFFICIAL_ABLATIONS, VLADRConfig, VLADRPlugin,
                                               ablation_config)
from lifelong_reid.registry import PluginInfo

PLUGIN = PluginInfo(
    name="vladr", factory=VLADRPlugin, settings=VLADRConfig, version=__version__, kind="method",
    description="VLADR (CVPR 2026): attribute prompts, cross-modal / cross-domain attribute alignment, "
                "prototype memory, weight interpolation (lifelong ReID)",
    loss_names=LOSS_NAMES,
    contract={"stream": "lifelong", "settings": {"num_attributes": 2, "prompt_length": 2, "stage1_epochs": 1,
                                                  "affinity_kl": True}})

__all__ = ["PLUGIN", "VLADRPlugin", "VLADRConfig", "ABLATIONS", "OFFICIAL_ABLATIONS", "ablation_config"]
