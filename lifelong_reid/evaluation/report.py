"""Reports people can look at: ``report.md`` with the tables, linking the accuracy-matrix heat-maps, the
CMC curves and the ranked lists of the worst queries."""
from __future__ import annotations

import re
from pathlib import Path

from lifelong_reid.evaluation.lifelong import METRICS
from lifelong_reid.evaluation.plots import plot_cmc, plot_matrix, plot_ranked_lists
from lifelong_reid.evaluation.ranked_lists import DomainFeatures, cmc_curve, ranked_lists, worst_queries

#: Second readings of a domain's evaluation: SYSU-MM01's indoor search, RegDB / LLCM's other direction.
SECOND_READINGS = ("indoor", "reverse")


def plugin_sections(strategy, folder: Path) -> list:
    """The ``(title, markdown)`` sections every active plugin returns from ``lreid_report_sections``."""
    sections = []
    for result in strategy.pm.hook.lreid_report_sections(strategy=strategy, folder=Path(folder)):
        sections.extend(result or ())
    return sections


def file_name(name: str) -> str:
    """``name`` (a domain, e.g. ``synth-dg1+synth-dg2``) made safe as part of a file name: every run of other
    characters than letters, digits, ``_ . -`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def write_visuals(domains: list[DomainFeatures], folder: Path, *, metric: str = "cosine", worst: int = 8,
                  top: int = 10, max_rank: int = 50) -> dict:
    """Draw ``cmc.png`` (every domain) and ``ranked_DOMAIN.png`` (the ``worst`` queries by AP, each with its
    ``top`` gallery images) into ``folder``.

    Returns:
        ``{"cmc": "cmc.png", "ranked": {domain: file name}}`` for :func:`write_report`.
    """
    folder = Path(folder)
    curves, ranked = {}, {}
    for d in domains:
        curve = cmc_curve(*d.arrays(), protocol=d.protocol, metric=metric, max_rank=max_rank)
        curves[d.name] = curve
        ap = curve["metrics"]["per_query"]["AP"]
        lists = ranked_lists(*d.arrays(), worst_queries(ap, worst), protocol=d.protocol, metric=metric, top=top,
                             ap=ap)
        png = folder / f"ranked_{file_name(d.name)}.png"
        plot_ranked_lists(lists, d.query_image, d.gallery_image, png,
                          title=f"{d.name}: {len(lists)} worst queries by AP (green: same identity, red: other)",
                          query_label=d.query_label, gallery_label=d.gallery_label)
        ranked[d.name] = png.name
    cmc_png = plot_cmc(curves, folder / "cmc.png") if curves else None
    return {"cmc": cmc_png.name if cmc_png else None, "ranked": ranked}


#: How a report reads its rows, by ``results["setting"]``: ``"lifelong"`` (several training experiences),
#: ``"single"`` (one training experience: a supervised benchmark or domain generalization, whose seen
#: domains are its sources) and ``"checkpoint"`` (``lreid eval``: one saved model, no training).
SETTINGS = ("lifelong", "single", "checkpoint")


def run_setting(num_experiences: int) -> str:
    """``"lifelong"`` for several training experiences, ``"single"`` for one."""
    return "lifelong" if num_experiences > 1 else "single"


def group_labels(results: dict) -> dict:
    """``{"seen": label, "unseen": label}`` for the final averages: anti-forgetting and generalization in a
    lifelong run; source and target domains in a one-experience run (domain generalization, a benchmark)."""
    if results.get("setting") == "single":
        return {"seen": "source domains (trained on)", "unseen": "target domains (unseen: generalization)"}
    return {"seen": "seen (anti-forgetting)", "unseen": "unseen (generalization)"}


def evaluation_settings(config, protocols: dict) -> dict:
    """The ``evaluation`` block of ``results.json``: what the figures were measured with.

    Args:
        config: the :class:`~lifelong_reid.config.RunConfig` (``eval_metric``, ``rerank`` and its k1 / k2 / lambda).
        protocols: ``{domain: protocol name}`` of the evaluated domains (``ReIDBenchmark.protocol``).
    """
    return {"metric": config.eval_metric, "rerank": bool(config.rerank),
            "rerank_k1": config.rerank_k1, "rerank_k2": config.rerank_k2, "rerank_lambda": config.rerank_lambda,
            "protocols": dict(protocols),
            "feature": f"feat (retrieval feature, {getattr(config, 'neck_feat', 'before')} the BNNeck)"}


def describe_evaluation(ev: dict) -> str:
    """One sentence for ``report.md`` from :func:`evaluation_settings`."""
    metric = {"cosine": "cosine distance (L2-normalised features)",
              "euclidean": "squared Euclidean distance"}.get(ev["metric"], ev["metric"])
    rerank = (f"k-reciprocal re-ranking (k1={ev['rerank_k1']}, k2={ev['rerank_k2']}, lambda={ev['rerank_lambda']})"
              if ev["rerank"] else "no re-ranking")
    by_protocol: dict = {}
    for domain, protocol in ev.get("protocols", {}).items():
        by_protocol.setdefault(protocol, []).append(domain)
    protocols = "; ".join(f"{p} ({', '.join(d)})" for p, d in by_protocol.items())
    return f"Evaluation: {metric}, {rerank}; protocols: {protocols or 'n/a'}."


def _table(results: dict, metric: str) -> str:
    m = results["matrix"]
    lines = ["| | " + " | ".join(m["cols"]) + " |", "|---" * (len(m["cols"]) + 1) + "|"]
    for label, row in zip(m["rows"], m[metric]):
        lines.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    return "\n".join(lines)


def format_value(v) -> str:
    """A percentage with two decimals, or ``"n/a"`` for ``None`` (e.g. no unseen domain)."""
    return "n/a" if v is None else f"{v:.2f}"


def write_report(results: dict, folder: Path, visuals: dict | None = None,
                 sections: list | None = None) -> Path:
    """Write ``matrix_mAP.png``, ``matrix_rank1.png`` and ``report.md`` (tables + linked images, including
    the :func:`write_visuals` figures when given, then ``sections``: ``(title, markdown)`` pairs from plugins'
    ``lreid_report_sections``) into ``folder``; returns the path of ``report.md``."""
    folder = Path(folder)
    setting = results.get("setting", "lifelong")
    checkpoint = setting == "checkpoint"
    if checkpoint:
        parts = [f"# {results['experiment']}: checkpoint {Path(results.get('checkpoint') or '?').name}", "",
                 f"One saved model (`{results.get('checkpoint', '')}`) evaluated on "
                 f"{', '.join(results['matrix']['cols'])}.", ""]
    else:
        parts = [f"# {results['experiment']} — {results['stream']} (seed {results['seed']})", ""]
    if results.get("evaluation"):
        parts += [describe_evaluation(results["evaluation"]), ""]
    fin = results.get("final")
    if fin:
        labels = group_labels(results)
        parts += ["| | mAP | Rank-1 |", "|---|---|---|"]
        for group in ("seen", "unseen"):
            parts.append(f"| {labels[group]} | {format_value(fin[group]['mAP'])} | "
                         f"{format_value(fin[group]['rank1'])} |")
        parts.append("")
    life = results.get("lifelong")
    if life and setting == "lifelong":
        parts += [f"Forgetting (mAP): {format_value(life['forgetting']['mAP']['mean'])}; backward transfer (mAP): "
                  f"{format_value(life['bwt']['mAP'])}.", ""]
    heading = {"checkpoint": "of the checkpoint", "single": "before and after training"}.get(setting,
                                                                                             "after each experience")
    for metric in METRICS:
        title = (f"{metric} (%) of {Path(results.get('checkpoint') or '').name or 'the checkpoint'}" if checkpoint
                 else None)
        png = plot_matrix(results, metric, folder / f"matrix_{metric}.png", title=title)
        parts += [f"## {metric} {heading}", "", _table(results, metric), "", f"![{metric}]({png.name})", ""]
    last = "of the checkpoint" if checkpoint else "after the last experience"
    parts += [f"## Every metric {last}", "", "| domain | mAP | Rank-1 | Rank-5 | Rank-10 | mINP |",
              "|---|---|---|---|---|---|"]
    for d, v in results["per_domain"].items():
        # the visible-infrared protocols' second reading (ReIDEvaluator(cross_modality=True)) gets its own row
        for label, m in ((d, v), *((f"{d} ({k})", v[k]) for k in SECOND_READINGS if isinstance(v.get(k), dict))):
            parts.append(f"| {label} | {m['mAP']:.2f} | {m['rank1']:.2f} | {m['rank5']:.2f} | {m['rank10']:.2f} | "
                         f"{m['mINP']:.2f} |")
    if visuals:
        if visuals.get("cmc"):
            parts += ["", f"## CMC curves {last}", "", f"![CMC]({visuals['cmc']})"]
        for name, png in visuals.get("ranked", {}).items():
            parts += ["", f"## Ranked lists: {name}", "", "The queries with the lowest AP, each followed by its "
                      "top gallery images (green: same identity, red: another identity), labelled with rank, "
                      "distance, identity, camera and file name.", "", f"![ranked lists {name}]({png})"]
    for title, markdown in sections or ():
        parts += ["", f"## {title}", "", markdown.rstrip()]
    path = folder / "report.md"
    path.write_text("\n".join(parts) + "\n")
    return path
