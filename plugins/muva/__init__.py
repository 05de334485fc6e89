"""MUVA (Li et al., "Multi-grained vision-language alignment for domain-generalized person ReID";
``../shared/papers/MUVA_multi-grained_DG-ReID.txt``; public code github.com/RikoLi/MUVA) as a plugin on the
common strategy.

Components (each its own module):

- ``parts.py``: part pseudo-labels: box-height statistics, calibration of outlier boxes to stripe windows,
  binary voting onto the patch grid (Sec. 3.2.3), the stripe partition (Table 8), mask IoU;
- ``ammsa.py``: AM-MSA: Residual Mask Prediction (Eq. 5) and Mask Gating (Eq. 6-7);
- ``losses.py``: the mask loss, BCE + dice (Eq. 8-9; the code's per-row dice or the paper's element-wise one);
- ``memory.py``: VPM-1 / VPM-2 class centroids and VPM-2's hardest-sample momentum update (Eq. 3);
- ``plugin.py``: :class:`MUVAPlugin` wiring them into the strategy's hooks (local tokens, stage 1 against
  VPM-1 (Eq. 1), stage-2 losses (Eq. 2, 4, 9)) and the ablation rows (:data:`ABLATIONS`).

Usage: ``config = RunConfig(..., plugins={"muva": {"stage1_epochs": 120}})`` or ``lreid run EXPERIMENT
--plugin muva --set muva.parts=[head]``; registered as ``muva`` through the ``lifelong_reid.plugins``
entry-point group (:data:`PLUGIN`), like a third-party plugin. ``examples/muva_dg.py`` is the paper's recipe.
"""
from lifelong_reid import __version__
from lifelong_reid.plugins.muva.plugin import ABLATIONS, LOSS_NAMES, MUVAConfig, MUVAPlugin, ablation_config
from lifelong_reid.registry import PluginInfo

PLUGIN = PluginInfo(
    name="muva", factory=MUVAPlugin, settings=MUVAConfig, version=__version__, kind="method",
    description="MUVA: multi-grained prompts, local tokens with adaptively masked attention (AM-MSA), "
                "prototypical memories (domain-generalized ReID)",
    loss_names=LOSS_NAMES,
    contract={"stream": "lifelong", "settings": {"stage1_epochs": 1, "rmp_heads": 2, "rmp_hidden": 16,
                                                  "missing_boxes": "stripes"}})

__all__ = ["PLUGIN", "MUVAPlugin", "MUVAConfig", "ABLATIONS", "ablation_config"]
