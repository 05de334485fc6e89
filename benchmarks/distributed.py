"""1 process (the baseline) against N processes on one machine (issue 14): wall time and the largest
difference in any entry of the accuracy matrices, on ``examples/distributed_synthetic.py``.

    python benchmarks/distributed.py                     # CPU, gloo: 1 vs 2 processes
    python benchmarks/distributed.py --nproc 2 4 --device cuda
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distributed_synthetic.py"


def run(nproc: int, output: Path, device: str, extra: list) -> float:
    """``lreid run`` the example with ``nproc`` processes; returns the wall time in seconds (imports included)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lifelong_reid.cli", "run", str(EXAMPLE), "--output", str(output),
                    "--device", device, "--no-progress", "--nproc", str(nproc), *extra], check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nproc", type=int, nargs="+", default=[2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    extra = [a for o in args.overrides for a in ("--set", o)]
    with tempfile.TemporaryDirectory() as tmp:
        base_time = run(1, Path(tmp) / "n1", args.device, extra)
        base = json.loads((Path(tmp) / "n1" / "results.json").read_text())
        print(f"{EXAMPLE.name} on {args.device}; baseline: 1 process")
        print("| processes | wall s | vs 1 process | max |d mAP| | max |d Rank-1| | final seen mAP |")
        print("|---|---|---|---|---|---|")
        print(f"| 1 | {base_time:.1f} | 1.00x | - | - | {base['final']['seen']['mAP']:.2f} |")
        for n in args.nproc:
            seconds = run(n, Path(tmp) / f"n{n}", args.device, extra)
            res = json.loads((Path(tmp) / f"n{n}" / "results.json").read_text())
            diff = {m: max(abs(a - b) for r1, r2 in zip(base["matrix"][m], res["matrix"][m]) for a, b in zip(r1, r2))
                    for m in ("mAP", "rank1")}
            print(f"| {n} | {seconds:.1f} | {base_time / seconds:.2f}x | {diff['mAP']:.4f} | {diff['rank1']:.4f} | "
                  f"{res['final']['seen']['mAP']:.2f} |")


if __name__ == "__main__":
    main()
