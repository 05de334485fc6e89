"""What the ablation scripts share for their printed tables: ``mean ± std`` over seeds."""
from __future__ import annotations

import numpy as np


def mean_std(rows: list[dict], key: str) -> str:
    """``"61.22 ± 4.53"``: mean and population standard deviation of ``row[key]`` over ``rows`` (seeds)."""
    values = [r[key] for r in rows]
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"
