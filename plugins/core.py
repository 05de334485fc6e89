"""The default hook implementations. Registered as ``core``; blocking it (``--block core``) leaves the
strategy without an inference embedding unless another plugin provides one."""
from __future__ import annotations

from lifelong_reid.hooks import hookimpl


@hookimpl(trylast=True)
def lreid_inference_embedding(outputs):
    """CLIP-ReID's test feature: ``cat[CLS, projected CLS]`` before BNNeck, ``(B, D + E)``."""
    return outputs["feat"]
