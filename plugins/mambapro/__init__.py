"""MambaPro (Wang et al., "MambaPro: Multi-Modal Object Re-Identification with Mamba Aggregation and
Synergistic Prompt", AAAI 2025; ``../shared/papers/MambaPro_multimodal_ReID_AAAI2025.txt``; public code
github.com/924973292/MambaPro) as a plugin on the common strategy, for RGB/NIR/TIR tuple streams.

Components:

- ``scan.py``: the selective scan, with ``mamba_ssm``'s fused CUDA kernel when it is there and ``mambapy``'s
  parallel scan in PyTorch everywhere else;
- ``aggregation.py``: Mamba Aggregation (intra- then inter-modality selective state-space mixing);
- ``plugin.py``: :class:`MambaProPlugin`: Parallel Feed-Forward Adapters, Synergistic Residual Prompts, the
  camera embedding, the heads and losses, the frozen encoder.

Usage: ``config = RunConfig(..., plugins={"mambapro": {}})`` or ``lreid run EXPERIMENT --plugin mambapro
--set mambapro.ma=false``; registered as ``mambapro`` through the ``lifelong_reid.plugins`` entry-point group
(:data:`PLUGIN`).
"""
from lifelong_reid import __version__
from lifelong_reid.plugins.mambapro.plugin import MambaProConfig, MambaProPlugin, trainable_parameters
from lifelong_reid.registry import PluginInfo

PLUGIN = PluginInfo(
    name="mambapro", factory=MambaProPlugin, settings=MambaProConfig, version=__version__, kind="method",
    description="MambaPro: parallel feed-forward adapters, synergistic residual prompts and Mamba aggregation on "
                "a frozen CLIP (multi-modal RGB/NIR/TIR ReID)",
    contract={"stream": "multimodal"})

__all__ = ["PLUGIN", "MambaProPlugin", "MambaProConfig", "trainable_parameters"]
