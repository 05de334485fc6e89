"""BNNeck and identity classifiers (Luo et al., "Bag of Tricks and A Strong Baseline for Deep Person
Re-identification", CVPRW 2019)."""
from __future__ import annotations

from torch import nn


class BNNeck(nn.BatchNorm1d):
    """BatchNorm1d with a frozen zero bias, weight initialised to 1 (BNNeck, Luo et al. 2019, Sec. 4.2).

    Input and output ``(B, D)``.
    """

    def __init__(self, dim: int):
        super().__init__(dim)
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)
        self.bias.requires_grad_(False)


def make_classifier(dim: int, num_classes: int) -> nn.Linear:
    """``Linear(dim -> num_classes)`` without bias, weights ~ N(0, 0.001) as CLIP-ReID's classifiers."""
    fc = nn.Linear(dim, num_classes, bias=False)
    nn.init.normal_(fc.weight, std=0.001)
    return fc
