"""CLIP-ReID's stage 1: learn text prompts against frozen image features.

Shapes: ``N`` training pairs (images, or distinct captions with their mean image feature), ``E`` joint
embedding size, ``B`` batch.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional, Union

import torch
import torch.nn.functional as F

from lifelong_reid.losses.contrastive import symmetric_supcon_loss

#: ``indices (B,) -> text features (B, E)``, or ``(features, extra loss)`` to add a term (e.g. VLADR's
#: orthogonality loss).
TextFn = Callable[[torch.Tensor], Union[torch.Tensor, tuple]]


class Stage1Trainer:
    """Train prompt parameters so that each text feature matches its images (Li et al., "CLIP-ReID", AAAI
    2023, Sec. 3.2, Eq. 4-6): every epoch the ``N`` pairs are shuffled into batches; the loss of a batch is
    the symmetric supervised contrastive loss between the frozen image features and the text features of
    the same indices (positives: same label), plus any extra term the text function returns.

    Args:
        params: the parameters to train (the prompts; the image features are fixed).
        lr: Adam learning rate (CLIP-ReID 3.5e-4). weight_decay: Adam's (CLIP-ReID 1e-4).
        epochs: passes over the pairs (CLIP-ReID 120). batch_size: pairs per batch (CLIP-ReID 64).
        temperature: of the contrastive loss (CLIP-ReID 1.0 on raw features; VLADR 0.07 on unit ones).
        normalize: L2-normalise image and text features before the loss.
        warmup_epochs, warmup_factor, min_lr_factor: a per-epoch cosine schedule with linear warm-up
            (:func:`~lifelong_reid.strategy.optim.warmup_cosine_factor`; CLIP-ReID: 5 epochs from 1e-5 to
            3.5e-4, down to 1e-6); ``None`` for ``warmup_epochs`` keeps the learning rate constant.
        loss_fn: ``(image (B, E), text (B, E), labels (B,)) -> scalar`` replacing the symmetric SupCon loss
            (after the optional normalisation), e.g. MUVA's text-to-prototype cross-entropy against a whole
            memory (Eq. 1).
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], *, lr: float = 3.5e-4, weight_decay: float = 0.0,
                 epochs: int = 120, batch_size: int = 64, temperature: float = 1.0, normalize: bool = False,
                 warmup_epochs: Optional[int] = None, warmup_factor: float = 1e-5 / 3.5e-4,
                 min_lr_factor: float = 1e-6 / 3.5e-4, loss_fn: Optional[Callable] = None):
        self.params = [p for p in params]
        self.lr, self.weight_decay, self.epochs, self.batch_size = lr, weight_decay, epochs, batch_size
        self.temperature, self.normalize, self.loss_fn = temperature, normalize, loss_fn
        self.warmup_epochs, self.warmup_factor, self.min_lr_factor = warmup_epochs, warmup_factor, min_lr_factor
        self.history: list[float] = []

    def fit(self, image_features: torch.Tensor, labels: torch.Tensor, text_fn: TextFn,
            generator: Optional[torch.Generator] = None) -> list[float]:
        """Train on ``(N, E)`` image features with ``(N,)`` labels; ``text_fn(indices)`` gives the text
        features of those pairs. Returns the mean loss of every epoch (also in :attr:`history`).

        The parameters are set trainable during the fit and left trainable (freeze them after if needed).
        """
        # imported here: the strategy package pulls in Avalanche, which plugin discovery need not pay for
        from lifelong_reid.strategy.optim import warmup_cosine_factor

        for p in self.params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(self.params, lr=self.lr, weight_decay=self.weight_decay)
        device = image_features.device
        n = len(image_features)
        for epoch in range(self.epochs):
            if self.warmup_epochs is not None:
                factor = warmup_cosine_factor(epoch, self.epochs, self.warmup_epochs, self.warmup_factor,
                                              self.min_lr_factor)
                for g in opt.param_groups:
                    g["lr"] = self.lr * factor
            total, batches = 0.0, 0
            for idx in torch.randperm(n, generator=generator).split(self.batch_size):
                out = text_fn(idx)
                text, extra = out if isinstance(out, tuple) else (out, None)
                img = image_features[idx]
                if self.normalize:
                    img, text = F.normalize(img, dim=-1), F.normalize(text, dim=-1)
                y = labels[idx].to(device)
                loss = (self.loss_fn(img, text, y) if self.loss_fn is not None
                        else symmetric_supcon_loss(img, text, y, self.temperature))
                if extra is not None:
                    loss = loss + extra
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
                batches += 1
            self.history.append(total / max(batches, 1))
        return self.history
