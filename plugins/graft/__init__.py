"""GraFT (Yin et al., "GraFT: Gradual Fusion Transformer for Multimodal Re-Identification";
``../shared/papers/GraFT_gradual_fusion_multimodal_ReID.txt``; public code github.com/Nano1337/GraFT) as a plugin
on the common strategy, for RGB/NIR/TIR tuple streams.

Components:

- ``losses.py``: the augmented triplet loss over the eight token combinations (Eq. 8, 11, 12; Table 8) and the
  centre loss with learnt centres (Eq. 9);
- ``plugin.py``: :class:`GraFTPlugin`: fusion tokens exchanged across the modality encoders (Eq. 3-7), the
  fused head, the frozen-to-unfrozen schedule (Sec. 4.1).

Usage: ``config = RunConfig(..., plugins={"graft": {"frozen_epochs": 40}})`` or ``lreid run EXPERIMENT
--plugin graft --set graft.combo=fff``; registered as ``graft`` through the ``lifelong_reid.plugins``
entry-point group (:data:`PLUGIN`).
"""
from lifelong_reid import __version__
from lifelong_reid.plugins.graft.plugin import LOSS_NAMES, GraFTConfig, GraFTPlugin
from lifelong_reid.registry import PluginInfo

PLUGIN = PluginInfo(
    name="graft", factory=GraFTPlugin, settings=GraFTConfig, version=__version__, kind="method",
    description="GraFT: fusion tokens across per-modality encoders, augmented (FFD) triplet and centre losses, "
                "frozen-to-unfrozen schedule (multi-modal RGB/NIR/TIR ReID)",
    loss_names=LOSS_NAMES,
    contract={"stream": "multimodal", "settings": {"frozen_epochs": 1}})

__all__ = ["PLUGIN", "GraFTPlugin", "GraFTConfig"]
