"""Focal loss (Lin et al. 2017) for per-line tagging."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lyricseg.losses.base import SegmentationLoss, masked_mean
from lyricseg.utils import LyricsegError


def log_one_minus_softmax(logits: Tensor) -> Tensor:
    """``log(1 - softmax(logits))`` computed stably from the other classes' logits.

    Args:
        logits: ``[..., C]``.

    Returns:
        ``[..., C]``; finite for finite logits even where a probability rounds to 1.
    """
    num_classes = logits.shape[-1]
    eye = torch.eye(num_classes, dtype=torch.bool, device=logits.device)
    others = logits.unsqueeze(-2).expand(*logits.shape[:-1], num_classes, num_classes)
    others = others.masked_fill(eye, float("-inf"))
    return torch.logsumexp(others, dim=-1) - torch.logsumexp(logits, dim=-1, keepdim=True)


class FocalLoss(SegmentationLoss):
    """Focal loss, averaged over real lines.

    ``FL_i = -sum_c alpha_c * q_ic * (1 - p_ic)**gamma * log p_ic`` with ``q_i`` the (optionally
    smoothed) one-hot target. Without smoothing this is the usual
    ``-alpha_t (1 - p_t)**gamma log p_t``. ``(1 - p)**gamma`` is evaluated as
    ``exp(gamma * log(1 - p))`` so saturated logits keep finite gradients for any gamma.

    Args:
        num_classes: Number of classes C.
        alpha: None (all classes 1), a scalar (weight of the chorus class; the others get
            ``1 - alpha``) or a list of C per-class weights.
        gamma: Focusing parameter (0 gives cross-entropy).
        label_smoothing: Mass spread uniformly over the classes, in ``[0, 1)``.
        chorus_index: Class that a scalar ``alpha`` refers to.
    """

    name = "focal"

    def __init__(
        self,
        num_classes: int = 2,
        alpha: float | Sequence[float] | None = None,
        gamma: float = 2.0,
        label_smoothing: float = 0.0,
        chorus_index: int = 1,
    ) -> None:
        super().__init__(num_classes)
        if gamma < 0:
            raise LyricsegError(f"gamma must be non-negative, got {gamma}")
        if not 0.0 <= label_smoothing < 1.0:
            raise LyricsegError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if alpha is None:
            weights = torch.ones(num_classes)
        elif isinstance(alpha, int | float):
            if not 0.0 <= alpha <= 1.0:
                raise LyricsegError(f"scalar alpha must be in [0, 1], got {alpha}")
            weights = torch.full((num_classes,), 1.0 - float(alpha))
            weights[chorus_index] = float(alpha)
        else:
            weights = torch.as_tensor(list(alpha), dtype=torch.float32)
            if weights.shape != (num_classes,) or bool((weights < 0).any()):
                raise LyricsegError(f"alpha must hold {num_classes} non-negative weights: {alpha}")
        self.use_alpha = alpha is not None
        self.gamma = float(gamma)
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("alpha_weights", weights.to(torch.float32))

    def forward(
        self, logits: Tensor, target: Tensor, mask: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute the loss.

        Args:
            logits: ``[B, T, C]`` unnormalised scores.
            target: ``[B, T]`` long labels.
            mask: ``[B, T]`` bool, True for real lines.

        Returns:
            ``(total, {"focal": total})``.
        """
        logits, target, mask = self._prepare(logits, target, mask)
        log_probs = F.log_softmax(logits, dim=-1)
        modulation = torch.exp(self.gamma * log_one_minus_softmax(logits))
        q = F.one_hot(target, self.num_classes).to(logits.dtype)
        if self.label_smoothing:
            q = q * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        per_class = -self.alpha_weights * q * modulation * log_probs
        total = masked_mean(per_class.sum(dim=-1), mask)
        return total, {"focal": total}

    def extra_repr_items(self) -> dict[str, object]:
        """Parameters shown by :meth:`describe`."""
        items: dict[str, object] = {
            "alpha": self.alpha_weights if self.use_alpha else None,
            "gamma": self.gamma,
        }
        if self.label_smoothing:
            items["label_smoothing"] = self.label_smoothing
        return items
