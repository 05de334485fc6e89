"""lifelong_reid: re-identification with vision-language models under continual learning.

The two names most users need:

- :func:`lifelong_reid.hookimpl` marks a plugin's hook implementations (see ``hookspecs.py``);
- :class:`lifelong_reid.RunConfig` is what an experiment file (``examples/*.py``) defines.
"""
from __future__ import annotations

__version__ = "0.1.0"

import warnings  # noqa: E402

# avalanche imports qpsolvers, which warns at import time that no QP solver is installed; only GEM-style
# strategies need one and none of ours does.
warnings.filterwarnings("ignore", message="no QP solver found", category=UserWarning)

from lifelong_reid.hooks import hookimpl  # noqa: E402
from lifelong_reid.config import RunConfig  # noqa: E402

__all__ = ["hookimpl", "RunConfig", "__version__"]
