"""The attribute prototype memory: one prototype per attribute per learnt domain, updated online by an
exponential moving average (paper, "Attribute-level Prototype Memory"); no exemplar is stored.

Shapes: ``K`` attributes, ``E`` feature size, ``B`` batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class AttributePrototypeMemory:
    """Prototypes ``{domain: (K, E)}`` of L2-normalised attribute features.

    Args:
        momentum: EMA weight of the old prototype, ``p <- m p + (1 - m) mean_batch(v)``, renormalised.
    """

    def __init__(self, momentum: float = 0.9):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.prototypes: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def update(self, domain: str, features: torch.Tensor) -> None:
        """Fold a batch of ``(B, K, E)`` attribute features of ``domain`` into its prototypes."""
        mean = F.normalize(F.normalize(features.detach().float(), dim=-1).mean(0), dim=-1).cpu()
        old = self.prototypes.get(domain)
        new = mean if old is None else self.momentum * old + (1 - self.momentum) * mean
        self.prototypes[domain] = F.normalize(new, dim=-1)

    def old_prototypes(self, current: str) -> torch.Tensor | None:
        """``(D, K, E)`` prototypes of every domain but ``current`` (``None`` when there is none)."""
        old = [p for d, p in self.prototypes.items() if d != current]
        return torch.stack(old) if old else None

    def nbytes(self) -> int:
        """Memory size in bytes (what the method stores instead of exemplars)."""
        return sum(p.numel() * p.element_size() for p in self.prototypes.values())

    def state_dict(self) -> dict:
        return {"momentum": self.momentum, "prototypes": {d: p.clone() for d, p in self.prototypes.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.momentum = state["momentum"]
        self.prototypes = {d: p.clone() for d, p in state["prototypes"].items()}
