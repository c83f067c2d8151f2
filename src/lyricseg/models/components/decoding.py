"""Decoders: from per-line class probabilities to a label sequence."""

from __future__ import annotations

import torch
from torch import nn


class ArgmaxDecoder(nn.Module):
    """Each line gets its most likely class."""

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Decode ``logits [B, T, C]`` (``mask [B, T]``) into labels ``[B, T]`` long."""
        return logits.argmax(dim=-1)


class ViterbiDecoder(nn.Module):
    """Most likely label sequence under a constant penalty for every label change.

    Maximizes ``sum_t log p_t(y_t) - switch_penalty * #{t : y_t != y_{t-1}}`` per song,
    which removes one-line islands without merging real sections when the penalty is small.

    Args:
        switch_penalty: Cost of a label change in nats; 0 reduces to argmax.
    """

    def __init__(self, switch_penalty: float = 1.0):
        super().__init__()
        self.switch_penalty = switch_penalty

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Decode ``logits [B, T, C]`` (``mask [B, T]``) into labels ``[B, T]`` long."""
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        batch, width, classes = log_probs.shape
        transition = torch.full((classes, classes), -self.switch_penalty, device=logits.device)
        transition.fill_diagonal_(0.0)
        score = log_probs[:, 0]
        back = torch.zeros(batch, width, classes, dtype=torch.long, device=logits.device)
        for t in range(1, width):
            # cand[b, prev, cur]
            cand = score[:, :, None] + transition[None]
            best, arg = cand.max(dim=1)
            new = best + log_probs[:, t]
            live = mask[:, t, None]
            score = torch.where(live, new, score)
            back[:, t] = torch.where(live, arg, torch.arange(classes, device=logits.device))
        labels = torch.zeros(batch, width, dtype=torch.long, device=logits.device)
        labels[:, -1] = score.argmax(dim=-1)
        for t in range(width - 1, 0, -1):
            labels[:, t - 1] = back[:, t].gather(1, labels[:, t, None]).squeeze(1)
        return labels
