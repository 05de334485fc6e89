"""The lifelong accuracy matrix and its summaries.

``R[i][j]``: a metric (mAP or Rank-1, percent) on evaluation domain ``j`` after row ``i``; row 0 is the model
before any training (``"initial"``), row ``t`` the model after experience ``t``.

- seen average (anti-forgetting, as VLADR / DASK / LSTKC report): mean of the last row over the seen
  (training) domains;
- unseen average (generalisation): mean of the last row over the unseen domains;
- forgetting of a seen domain ``j`` learnt at experience ``t_j < T``: the best value in rows ``t_j..T-1`` minus
  the final value (Chaudhry et al., "Riemannian Walk", ECCV 2018, Eq. 9); averaged over those domains;
- backward transfer: ``mean_j (R[T][j] - R[t_j][j])`` over the same domains (Lopez-Paz & Ranzato, "Gradient
  Episodic Memory", NeurIPS 2017, Eq. 3). Negative BWT means forgetting.
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
        self.per_domain = {c: {k: v for k, v in results[c].items() if k != "per_query"} for c in self.cols}

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

    def _learnt_at(self) -> dict[str, int]:
        """Row index after which each seen domain had been learnt (rows are labelled ``after:<domain>``)."""
        return {d: self.rows.index(f"after:{d}") for d in self.seen if f"after:{d}" in self.rows}

    def forgetting(self, metric: str) -> dict:
        """``{"per_domain": {d: f_d}, "mean": f}`` after the last row; domains learnt in the last row are left
        out (they have no earlier value). ``mean`` is ``None`` when no domain qualifies."""
        last = len(self.rows) - 1
        per = {}
        for d, t in self._learnt_at().items():
            if t < last:
                col = [self.values[metric][i][self.cols.index(d)] for i in range(t, last + 1)]
                per[d] = max(col[:-1]) - col[-1]
        return {"per_domain": per, "mean": sum(per.values()) / len(per) if per else None}

    def backward_transfer(self, metric: str) -> Optional[float]:
        """Mean of ``R[T][j] - R[t_j][j]`` over seen domains learnt before the last row, or ``None``."""
        last = len(self.rows) - 1
        diffs = [self.values[metric][last][self.cols.index(d)] - self.values[metric][t][self.cols.index(d)]
                 for d, t in self._learnt_at().items() if t < last]
        return sum(diffs) / len(diffs) if diffs else None

    def lifelong(self) -> dict:
        """The ``lifelong`` block of ``results.json``: forgetting and BWT per metric, and the seen / unseen
        averages after every row (seen = domains learnt so far)."""
        learnt = self._learnt_at()
        per_row = []
        for i, label in enumerate(self.rows):
            seen_so_far = [d for d, t in learnt.items() if t <= i]
            per_row.append({"row": label,
                            "seen": {m: self.average(seen_so_far, m, row=i) for m in METRICS},
                            "unseen": {m: self.average(self.unseen, m, row=i) for m in METRICS}})
        return {"forgetting": {m: self.forgetting(m) for m in METRICS},
                "bwt": {m: self.backward_transfer(m) for m in METRICS},
                "per_row": per_row}

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
        widths = [max(len(c), 6) for c in self.cols]  # each column as wide as its name (100.00 is 6)
        head = " " * width + " | " + " | ".join(f"{c:>{w}}" for c, w in zip(self.cols, widths))
        lines = [f"{metric} (%)", head, "-" * len(head)]
        for label, vals in zip(self.rows, self.values[metric]):
            lines.append(f"{label:<{width}} | " + " | ".join(f"{v:{w}.2f}" for v, w in zip(vals, widths)))
        return "\n".join(lines)
