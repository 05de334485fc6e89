"""Reports people can look at: the accuracy matrix as a heat-map PNG and a ``report.md`` with the tables."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from lifelong_reid.evaluation.lifelong import METRICS  # noqa: E402


def plot_matrix(results: dict, metric: str, path: Path) -> Path:
    """Heat-map of ``results["matrix"][metric]`` (rows: initial and after each experience; columns:
    evaluation domains; values in percent, annotated) written as a PNG."""
    m = results["matrix"]
    values, rows, cols = m[metric], m["rows"], m["cols"]
    fig, ax = plt.subplots(figsize=(1.4 + 1.2 * len(cols), 1.0 + 0.55 * len(rows)))
    im = ax.imshow(values, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="white" if v < 60 else "black", fontsize=9)
    ax.set_title(f"{metric} (%) — {results['stream']}")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _table(results: dict, metric: str) -> str:
    m = results["matrix"]
    lines = ["| | " + " | ".join(m["cols"]) + " |", "|---" * (len(m["cols"]) + 1) + "|"]
    for label, row in zip(m["rows"], m[metric]):
        lines.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    return "\n".join(lines)


def format_value(v) -> str:
    """A percentage with two decimals, or ``"n/a"`` for ``None`` (e.g. no unseen domain)."""
    return "n/a" if v is None else f"{v:.2f}"


def write_report(results: dict, folder: Path) -> Path:
    """Write ``matrix_mAP.png``, ``matrix_rank1.png`` and ``report.md`` (tables + linked images) into
    ``folder``; returns the path of ``report.md``."""
    folder = Path(folder)
    parts = [f"# {results['experiment']} — {results['stream']} (seed {results['seed']})", ""]
    fin = results["final"]
    parts += ["| | mAP | Rank-1 |", "|---|---|---|"]
    for group, label in (("seen", "seen (anti-forgetting)"), ("unseen", "unseen (generalization)")):
        parts.append(f"| {label} | {format_value(fin[group]['mAP'])} | {format_value(fin[group]['rank1'])} |")
    parts.append("")
    life = results.get("lifelong")
    if life:
        parts += [f"Forgetting (mAP): {format_value(life['forgetting']['mAP']['mean'])}; backward transfer (mAP): "
                  f"{format_value(life['bwt']['mAP'])}.", ""]
    for metric in METRICS:
        png = plot_matrix(results, metric, folder / f"matrix_{metric}.png")
        parts += [f"## {metric} after each experience", "", _table(results, metric), "", f"![{metric}]({png.name})", ""]
    parts += ["## Every metric after the last experience", "", "| domain | mAP | Rank-1 | Rank-5 | Rank-10 | mINP |",
              "|---|---|---|---|---|---|"]
    for d, v in results["per_domain"].items():
        parts.append(f"| {d} | {v['mAP']:.2f} | {v['rank1']:.2f} | {v['rank5']:.2f} | {v['rank10']:.2f} | "
                     f"{v['mINP']:.2f} |")
    path = folder / "report.md"
    path.write_text("\n".join(parts) + "\n")
    return path
