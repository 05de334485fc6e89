"""Figures written next to results.json: accuracy-matrix heat-maps, CMC curves, ranked lists."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

CORRECT, WRONG = "#1a9850", "#d73027"


def colour_range(values) -> tuple[float, float]:
    """``(vmin, vmax)`` of a heat-map fitted to ``values`` (percent): their range widened to at least 10
    points and kept inside 0..100, so a weak model's 3-12 % spread is not one dark block of a 0-100 scale."""
    flat = [float(v) for row in values for v in row]
    lo, hi = (min(flat), max(flat)) if flat else (0.0, 100.0)
    if hi - lo < 10.0:
        mid = (lo + hi) / 2
        lo, hi = mid - 5.0, mid + 5.0
    if lo < 0.0:
        lo, hi = 0.0, hi - lo
    if hi > 100.0:
        lo, hi = lo - (hi - 100.0), 100.0
    return max(lo, 0.0), hi


def fitted_title(text: str, width_inches: float, fontsize: float = 10) -> str:
    """``text`` wrapped to lines that fit a figure ``width_inches`` wide (about 0.6 em per character)."""
    chars = max(12, int(width_inches * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.wrap(text, chars, break_long_words=True, break_on_hyphens=False)) or text


def plot_matrix(results: dict, metric: str, path: Path, title: str | None = None) -> Path:
    """Heat-map of ``results["matrix"][metric]`` (rows: initial and after each experience, or the evaluated
    checkpoint; columns: evaluation domains; values in percent, annotated) written as a PNG. The colour scale
    is fitted to the values (:func:`colour_range`, shown by the colour bar); the title wraps to the figure."""
    m = results["matrix"]
    values, rows, cols = m[metric], m["rows"], m["cols"]
    width = 1.4 + 1.2 * len(cols) + 0.06 * max((len(r) for r in rows), default=0)
    text = title or f"{metric} (%) — {results['stream']}"
    fontsize = 10
    wrapped = fitted_title(text, width, fontsize)
    fig, ax = plt.subplots(figsize=(width, 1.0 + 0.55 * len(rows) + 0.18 * wrapped.count("\n")))
    vmin, vmax = colour_range(values)
    im = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            dark = im.norm(v) < 0.6  # viridis is dark at the low end
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="white" if dark else "black", fontsize=9)
    ax.set_title(wrapped, fontsize=fontsize)
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


def sample_label(pid, camid, path: str = "") -> list[str]:
    """Label lines of one image in a ranked list: identity and camera, then the file name."""
    lines = [f"id {pid} cam {camid}"]
    if path:
        lines.append(Path(str(path)).name)
    return lines


def _fit(text: str, width: int, char: int = 6, rows: int = 1) -> list[str]:
    """``text`` in at most ``rows`` lines of ``width`` pixels of PIL's default font (about ``char`` px per
    character); a longer text keeps its end (a file name's distinctive part) behind an ellipsis."""
    n = max(4, width // char)
    if len(text) > n * rows:
        text = "..." + text[-(n * rows - 3):]
    return [text[i:i + n] for i in range(0, len(text), n)] or [""]


def plot_ranked_lists(lists: Sequence, query_image: Callable, gallery_image: Callable, path: Path,
                      title: str = "", cell: tuple[int, int] = (64, 128), query_label: Callable | None = None,
                      gallery_label: Callable | None = None) -> Path:
    """One row per :class:`~lifelong_reid.evaluation.ranked_lists.RankedList`: the query (with its AP),
    then its top gallery images framed green (same identity) or red (other identity), composed with PIL.

    ``query_image(i)`` and ``gallery_image(j)`` return PIL images; ``cell`` is ``(W, H)`` per image.
    ``query_label(i)`` / ``gallery_label(j)`` return label lines (:func:`sample_label`: identity, camera, file
    name), drawn above each image and cut to its width; the title wraps to the canvas."""
    w, h = cell
    pad, border, line = 6, 3, 12
    lines = 1 + (3 if (query_label or gallery_label) else 0)  # rank line; identity and camera; file name x 2
    label = lines * line + 2
    cols = 1 + max((len(r.gallery) for r in lists), default=0)
    width = 2 * pad + cols * (w + 2 * border + pad) + pad
    title_lines = textwrap.wrap(title, max(12, (width - 2 * pad) // 6)) if title else []
    head = 4 + line * len(title_lines)
    height = head + max(1, len(lists)) * (label + h + 2 * border + pad) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(title_lines):
        draw.text((pad, 3 + i * line), text, fill="black")
    for r, item in enumerate(lists):
        y = head + r * (label + h + 2 * border + pad)
        tiles = [(query_image(item.query), None, [f"query AP {item.ap:.1f}"]
                  + (list(query_label(item.query)) if query_label else []))]
        tiles += [(gallery_image(g), CORRECT if ok else WRONG,
                   [f"#{k} d {dist:.3g}"] + (list(gallery_label(g)) if gallery_label else []))
                  for k, (g, ok, dist) in enumerate(zip(item.gallery, item.correct, item.distances), start=1)]
        for c, (img, colour, texts) in enumerate(tiles):
            x = pad + c * (w + 2 * border + pad) + (c > 0) * pad
            rows = [part for i, text in enumerate(texts) for part in
                    _fit(text, w + 2 * border + pad, rows=2 if i == len(texts) - 1 and i > 1 else 1)]
            for i, text in enumerate(rows[:lines]):
                draw.text((x, y + i * line), text, fill="black")
            if colour:
                draw.rectangle([x, y + label, x + w + 2 * border - 1, y + label + h + 2 * border - 1], fill=colour)
            if isinstance(img, (list, tuple)):  # a multi-modal tuple: show its first (RGB) image
                img = img[0]
            canvas.paste(img.convert("RGB").resize((w, h)), (x + border, y + label + border))
    canvas.save(path)
    return path
