"""The default hook implementations the strategy relies on. Registered as ``core`` in every run (always on);
blocking it (``--block core``) leaves the strategy without an inference embedding unless another plugin
provides one."""
from __future__ import annotations

import sys

from lifelong_reid import __version__
from lifelong_reid.hooks import hookimpl
from lifelong_reid.registry import PluginInfo


@hookimpl(trylast=True)
def lreid_inference_embedding(outputs):
    """CLIP-ReID's test feature: ``cat[CLS, projected CLS]`` before BNNeck, ``(B, D + E)`` (plus the features
    of heads declared with ``retrieval=True``): ``outputs["feat"]``."""
    return outputs["feat"]


PLUGIN = PluginInfo(name="core", factory=lambda settings: sys.modules[__name__], version=__version__, kind="core",
                    always_on=True, description="default retrieval embedding (outputs['feat'])")
