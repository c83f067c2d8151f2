"""Learning-rate schedules not shipped by torch."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    max_epochs: int,
    warmup_epochs: int = 1,
    min_lr_ratio: float = 0.05,
) -> LambdaLR:
    """Linear warm-up for ``warmup_epochs``, then cosine decay to ``min_lr_ratio`` × the base LR.

    Stepped once per epoch.
    """
    warmup_epochs = max(0, min(warmup_epochs, max_epochs - 1))

    def factor(epoch: int) -> float:
        if epoch < warmup_epochs:
            return (epoch + 1) / (warmup_epochs + 1)
        span = max(1, max_epochs - warmup_epochs)
        progress = min(1.0, (epoch - warmup_epochs) / span)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
