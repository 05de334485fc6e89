"""Figures written next to results.json: accuracy-matrix heat-maps, CMC curves, ranked lists."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

CORRECT, WRONG = "#1a9850", "#d73027"


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


def plot_cmc(curves: dict, path: Path, title: str = "CMC") -> Path:
    """CMC curves, one line per domain: ``curves = {domain: {"ranks": [...], "cmc": [percent, ...]}}``."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for name, c in curves.items():
        ax.plot(c["ranks"], c["cmc"], marker="o", markersize=2.5, label=name)
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_ranked_lists(lists: Sequence, query_image: Callable, gallery_image: Callable, path: Path,
                      title: str = "", cell: tuple[int, int] = (64, 128)) -> Path:
    """One row per :class:`~lifelong_reid.evaluation.ranked_lists.RankedList`: the query (with its AP),
    then its top gallery images framed green (same identity) or red (other identity), composed with PIL.
    ``query_image(i)`` and ``gallery_image(j)`` return PIL images; ``cell`` is ``(W, H)`` per image."""
    w, h = cell
    pad, border, head, label = 6, 3, 18 if title else 4, 14
    cols = 1 + max((len(r.gallery) for r in lists), default=0)
    width = 2 * pad + cols * (w + 2 * border + pad) + pad
    height = head + max(1, len(lists)) * (label + h + 2 * border + pad) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, 3), title, fill="black")
    for r, item in enumerate(lists):
        y = head + r * (label + h + 2 * border + pad)
        tiles = [(query_image(item.query), None, f"q{item.query} AP {item.ap:.1f}")]
        tiles += [(gallery_image(g), CORRECT if ok else WRONG, str(k))
                  for k, (g, ok) in enumerate(zip(item.gallery, item.correct), start=1)]
        for c, (img, colour, text) in enumerate(tiles):
            x = pad + c * (w + 2 * border + pad) + (c > 0) * pad
            draw.text((x, y), text, fill="black")
            if colour:
                draw.rectangle([x, y + label, x + w + 2 * border - 1, y + label + h + 2 * border - 1], fill=colour)
            if isinstance(img, (list, tuple)):  # a multi-modal tuple: show its first (RGB) image
                img = img[0]
            canvas.paste(img.convert("RGB").resize((w, h)), (x + border, y + label + border))
    canvas.save(path)
    return path
