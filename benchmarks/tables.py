"""What the ablation scripts share: ``mean ± std`` and paired differences over seeds for their tables, and one
measurement per process."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Optional

import numpy as np


def mean_std(rows: list[dict], key: str) -> str:
    """``"61.22 ± 4.53"``: mean and population standard deviation of ``row[key]`` over ``rows`` (seeds)."""
    values = [r[key] for r in rows]
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def paired(rows: list[dict], base: list[dict], key: str = "mAP") -> str:
    """``"+5.57 ± 3.30 (higher on 3/3 seeds)"``: mean ± std over seeds of ``row[key] - base[key]`` matched by
    ``"seed"`` (the same synthetic data and initialisation), and on how many seeds it is positive."""
    by_seed = {b["seed"]: b[key] for b in base}
    diffs = [r[key] - by_seed[r["seed"]] for r in rows if r["seed"] in by_seed]
    return f"{np.mean(diffs):+.2f} ± {np.std(diffs):.2f} (higher on {sum(d > 0 for d in diffs)}/{len(diffs)} seeds)"


def run_json(script: str, *args: str, tail: int = 300) -> tuple[Optional[dict], str]:
    """Run ``python script *args`` in a fresh process (its own peak memory) and read the JSON object on the last
    line of its output: ``(result, "")``, or ``(None, the last tail characters of its stderr)`` when it failed."""
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr[-tail:]
    return json.loads(out.stdout.strip().splitlines()[-1]), ""
