"""The lifelong accuracy matrix and its summaries.

``R[i][j]``: a metric (mAP or Rank-1, percent) on evaluation domain ``j`` after row ``i``; row 0 is the model
before any training (``"initial"``), row ``t`` the model after experience ``t``.

- seen average (anti-forgetting, as VLADR / DASK / LSTKC report): mean of the last row over the seen
  (training) domains;
- unseen average (generalisation): mean of the last row over the unseen domains.
"""
from __future__ import annotations

from typing import Optional

METRICS = ("mAP", "rank1")


class AccuracyMatrix:
    """Rows of per-domain metrics, filled after each experience.

    Args:
        cols: evaluation domain names (columns). seen: the training domains, in training order.
        unseen: test-only domains.
    """

    def __init__(self, cols: list[str], seen: list[str], unseen: list[str]):
        self.cols, self.seen, self.unseen = list(cols), list(seen), list(unseen)
        self.rows: list[str] = []
        self.values: dict[str, list[list[float]]] = {m: [] for m in METRICS}
        self.per_domain: dict[str, dict] = {}

    def add_row(self, label: str, results: dict[str, dict]) -> None:
        """Append a row; ``results`` maps each column to its metrics dict (``mAP``, ``rank1``, ...)."""
        missing = [c for c in self.cols if c not in results]
        if missing:
            raise ValueError(f"row {label!r} lacks domains {missing}")
        self.rows.append(label)
        for m in METRICS:
            self.values[m].append([float(results[c][m]) for c in self.cols])
        self.per_domain = {c: {k: v for k, v in results[c].items() if k != "num_valid_queries"} for c in self.cols}

    def average(self, domains: list[str], metric: str, row: int = -1) -> Optional[float]:
        """Mean of ``metric`` over ``domains`` in ``row`` (``None`` if ``domains`` is empty)."""
        if not domains or not self.rows:
            return None
        vals = [self.values[metric][row][self.cols.index(d)] for d in domains]
        return sum(vals) / len(vals)

    def final(self) -> dict:
        """``{"seen": {"mAP", "rank1"}, "unseen": {...}}`` after the last row."""
        return {group: {m: self.average(doms, m) for m in METRICS}
                for group, doms in (("seen", self.seen), ("unseen", self.unseen))}

    def to_dict(self) -> dict:
        return {"rows": list(self.rows), "cols": list(self.cols), **{m: [list(r) for r in self.values[m]]
                                                                     for m in METRICS}}

    @classmethod
    def from_dict(cls, d: dict, seen: list[str], unseen: list[str], per_domain: dict) -> "AccuracyMatrix":
        m = cls(d["cols"], seen, unseen)
        m.rows = list(d["rows"])
        m.values = {k: [list(r) for r in d[k]] for k in METRICS}
        m.per_domain = per_domain
        return m

    def format(self, metric: str = "mAP") -> str:
        """The matrix as a text table (one row per line)."""
        width = max([len(r) for r in self.rows] + [8])
        head = " " * width + " | " + " | ".join(f"{c:>12}" for c in self.cols)
        lines = [f"{metric} (%)", head, "-" * len(head)]
        for label, vals in zip(self.rows, self.values[metric]):
            lines.append(f"{label:<{width}} | " + " | ".join(f"{v:12.2f}" for v in vals))
        return "\n".join(lines)
