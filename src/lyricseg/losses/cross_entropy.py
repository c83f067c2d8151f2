"""Cross-entropy with label smoothing, class weights and an optional entropy bonus."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lyricseg.losses.base import (
    EPS,
    SegmentationLoss,
    class_weights_from_counts,
    masked_mean,
    parse_class_weights,
)
from lyricseg.utils import LyricsegError


def prediction_entropy(logits: Tensor) -> Tensor:
    """Shannon entropy of the softmax of each line.

    Args:
        logits: ``[B, T, C]``.

    Returns:
        ``[B, T]`` entropies in nats (finite for any finite logits).
    """
    log_probs = F.log_softmax(logits, dim=-1)
    return -(log_probs.exp() * log_probs).sum(dim=-1)


class CrossEntropyLoss(SegmentationLoss):
    """Per-line cross-entropy, averaged over real lines.

    ``total = CE - entropy_lambda * mean(H(p))``. With class weights the mean is weighted as in
    :func:`torch.nn.functional.cross_entropy` (divided by the summed weight of the true classes),
    so the value equals ``F.cross_entropy`` on the real lines.

    Args:
        num_classes: Number of classes C.
        label_smoothing: Mass spread uniformly over the classes, in ``[0, 1)``.
        class_weights: ``"none"``/None, ``"balanced"`` (inverse frequency), ``"effective"``
            (Cui et al. 2019 effective number of samples) or an explicit list of C weights.
        beta: Effective-number hyper-parameter (only for ``"effective"``).
        max_class_weight: Optional cap applied to computed weights.
        entropy_lambda: Weight of the entropy bonus; positive values reward uncertain
            predictions and counter collapse onto one class.
    """

    name = "ce"

    def __init__(
        self,
        num_classes: int = 2,
        label_smoothing: float = 0.0,
        class_weights: str | Sequence[float] | None = None,
        beta: float = 0.999,
        max_class_weight: float | None = None,
        entropy_lambda: float = 0.0,
    ) -> None:
        super().__init__(num_classes)
        if not 0.0 <= label_smoothing < 1.0:
            raise LyricsegError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if not 0.0 <= beta < 1.0:
            raise LyricsegError(f"beta must be in [0, 1), got {beta}")
        self.label_smoothing = float(label_smoothing)
        self.beta = float(beta)
        self.max_class_weight = None if max_class_weight is None else float(max_class_weight)
        self.entropy_lambda = float(entropy_lambda)
        parsed = parse_class_weights(class_weights)
        self.weight_scheme = parsed if isinstance(parsed, str) else None
        if isinstance(parsed, Tensor):
            if parsed.numel() != num_classes:
                raise LyricsegError(f"expected {num_classes} class weights, got {parsed.tolist()}")
            self.register_buffer("explicit_weights", parsed)
        else:
            self.register_buffer("explicit_weights", None)

    def class_weight_tensor(self, target: Tensor, mask: Tensor) -> Tensor | None:
        """The ``[C]`` class weights in use for this batch, or None for unweighted."""
        if self.explicit_weights is not None:
            return self.explicit_weights.to(target.device)
        if self.weight_scheme is None:
            return None
        counts = self.counts_for(target, mask)
        return class_weights_from_counts(
            counts, self.weight_scheme, self.beta, self.max_class_weight
        ).to(target.device)

    def per_line(self, logits: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Per-line loss and normaliser (inputs already passed through ``_prepare``).

        Returns:
            ``(loss, norm)``, both ``[B, T]``: ``loss`` is the (weighted, smoothed) CE of each
            line and ``norm`` the weight of its true class (1 when unweighted); a weighted mean
            is ``sum(loss) / sum(norm)`` over real lines.
        """
        batch, length, num_classes = logits.shape
        weights = self.class_weight_tensor(target, mask)
        loss = F.cross_entropy(
            logits.reshape(-1, num_classes),
            target.reshape(-1),
            weight=weights,
            label_smoothing=self.label_smoothing,
            reduction="none",
        ).view(batch, length)
        norm = torch.ones_like(loss) if weights is None else weights[target]
        return loss, norm

    @staticmethod
    def weighted_mean(loss: Tensor, norm: Tensor, select: Tensor) -> Tensor:
        """``sum(loss) / sum(norm)`` over the ``select``-ed lines; 0 when none is selected."""
        zeros = torch.zeros_like(loss)
        numerator = torch.where(select, loss, zeros).sum()
        return numerator / torch.where(select, norm, zeros).sum().clamp_min(EPS)

    def forward(
        self, logits: Tensor, target: Tensor, mask: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute the loss.

        Args:
            logits: ``[B, T, C]`` unnormalised scores.
            target: ``[B, T]`` long labels.
            mask: ``[B, T]`` bool, True for real lines.

        Returns:
            ``(total, {"ce": ..., "entropy": ...})``; ``entropy`` (mean prediction entropy)
            only when ``entropy_lambda`` is non-zero.
        """
        logits, target, mask = self._prepare(logits, target, mask)
        loss, norm = self.per_line(logits, target, mask)
        ce = self.weighted_mean(loss, norm, mask)
        components = {"ce": ce}
        total = ce
        if self.entropy_lambda != 0.0:
            entropy = masked_mean(prediction_entropy(logits), mask)
            components["entropy"] = entropy
            total = total - self.entropy_lambda * entropy
        return total, components

    def term_weights(self) -> dict[str, float]:
        """``ce`` with weight 1 and, when on, ``entropy`` with ``-entropy_lambda``."""
        weights = {"ce": 1.0}
        if self.entropy_lambda != 0.0:
            weights["entropy"] = -self.entropy_lambda
        return weights

    def extra_repr_items(self) -> dict[str, object]:
        """Parameters shown by :meth:`describe`."""
        items: dict[str, object] = {"label_smoothing": self.label_smoothing}
        if self.explicit_weights is not None:
            items["class_weights"] = self.explicit_weights
        elif self.weight_scheme is not None:
            items["class_weights"] = self.weight_scheme
            if self.weight_scheme == "effective":
                items["beta"] = self.beta
            if self.max_class_weight is not None:
                items["max_class_weight"] = self.max_class_weight
        if self.entropy_lambda:
            items["entropy_lambda"] = self.entropy_lambda
        return items
