"""Soft Tversky loss (Salehi et al. 2017) on the chorus class."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lyricseg.losses.base import SegmentationLoss
from lyricseg.utils import LyricsegError

CLASS_CHOICES = ("chorus", "both")
SCOPE_CHOICES = ("song", "batch")


class TverskyLoss(SegmentationLoss):
    """``1 - TI`` with the soft Tversky index ``TI = (TP + s) / (TP + alpha*FP + beta*FN + s)``.

    ``TP = sum p*g``, ``FP = sum p*(1-g)``, ``FN = sum (1-p)*g`` over real lines, with ``p`` the
    predicted probability and ``g`` the one-hot target of a class. ``alpha = beta = 0.5`` gives
    the Dice loss; ``beta > alpha`` punishes missed chorus lines more than false alarms. The
    smoothing ``s > 0`` keeps songs without any chorus finite (there ``TI = s / (alpha*FP + s)``,
    which still pushes predictions towards verse).

    Args:
        num_classes: Number of classes C.
        alpha: Weight of false positives.
        beta: Weight of false negatives.
        smooth: Additive smoothing ``s`` (> 0).
        classes: ``"chorus"`` (the chorus class only) or ``"both"`` (mean over all classes).
        reduction_scope: ``"song"`` (index per song, averaged over songs with at least one real
            line) or ``"batch"`` (one index from the counts of the whole batch).
        chorus_index: Class index of the chorus.
    """

    name = "tversky"

    def __init__(
        self,
        num_classes: int = 2,
        alpha: float = 0.3,
        beta: float = 0.7,
        smooth: float = 1.0,
        classes: str = "chorus",
        reduction_scope: str = "song",
        chorus_index: int = 1,
    ) -> None:
        super().__init__(num_classes)
        if alpha < 0 or beta < 0:
            raise LyricsegError(f"alpha and beta must be non-negative, got {alpha}, {beta}")
        if smooth <= 0:
            raise LyricsegError(f"smooth must be positive, got {smooth}")
        if classes not in CLASS_CHOICES:
            raise LyricsegError(f"classes must be one of {CLASS_CHOICES}, got {classes!r}")
        if reduction_scope not in SCOPE_CHOICES:
            raise LyricsegError(
                f"reduction_scope must be one of {SCOPE_CHOICES}, got {reduction_scope!r}"
            )
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.smooth = float(smooth)
        self.classes = classes
        self.reduction_scope = reduction_scope
        self.chorus_index = int(chorus_index)

    def forward(
        self, logits: Tensor, target: Tensor, mask: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute the loss.

        Args:
            logits: ``[B, T, C]`` unnormalised scores.
            target: ``[B, T]`` long labels.
            mask: ``[B, T]`` bool, True for real lines.

        Returns:
            ``(total, {"tversky": total})``.
        """
        logits, target, mask = self._prepare(logits, target, mask)
        weight = mask.unsqueeze(-1).to(logits.dtype)
        probs = logits.softmax(dim=-1) * weight
        onehot = F.one_hot(target, self.num_classes).to(logits.dtype) * weight
        if self.classes == "chorus":
            probs = probs[..., self.chorus_index : self.chorus_index + 1]
            onehot = onehot[..., self.chorus_index : self.chorus_index + 1]
        # Sum over lines: [B, K] per song, [K] for the whole batch.
        dims = (1,) if self.reduction_scope == "song" else (0, 1)
        tp = (probs * onehot).sum(dim=dims)
        fp = (probs * (weight - onehot)).sum(dim=dims)
        fn = ((weight - probs) * onehot).sum(dim=dims)
        index = (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth)
        per_group = (1.0 - index).mean(dim=-1)
        if self.reduction_scope == "song":
            has_lines = mask.any(dim=1)
            total = torch.where(has_lines, per_group, torch.zeros_like(per_group)).sum()
            total = total / has_lines.sum().clamp_min(1)
        else:
            total = per_group.sum()
        return total, {"tversky": total}

    def extra_repr_items(self) -> dict[str, object]:
        """Parameters shown by :meth:`describe`."""
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "smooth": self.smooth,
            "classes": self.classes,
            "reduction_scope": self.reduction_scope,
        }
