"""Cross-entropy that stresses section borders, with consistency and calibration terms."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from lyricseg.losses.base import boundary_lines, dilate, masked_mean
from lyricseg.losses.cross_entropy import CrossEntropyLoss, prediction_entropy
from lyricseg.utils import LyricsegError


def segment_ids(target: Tensor, mask: Tensor) -> Tensor:
    """Number the true segments (runs of equal labels) of a batch, unique across songs.

    Args:
        target: ``[B, T]`` long labels.
        mask: ``[B, T]`` bool.

    Returns:
        ``[B, T]`` long ids in ``[0, B*T)``; padded lines get ``B*T`` (a spare bin).
    """
    batch, length = target.shape
    starts = torch.zeros_like(target)
    starts[:, 1:] = (target[:, 1:] != target[:, :-1]).long()
    offsets = torch.arange(batch, device=target.device).unsqueeze(1) * length
    ids = starts.cumsum(dim=1) + offsets
    return torch.where(mask, ids, torch.full_like(ids, batch * length))


def segment_variance(values: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean over true segments of the variance of ``values`` inside each segment.

    Two scatter passes (segment means, then squared deviations), no loop over segments.

    Args:
        values: ``[B, T]`` per-line values (e.g. P(chorus)).
        target: ``[B, T]`` long labels defining the segments.
        mask: ``[B, T]`` bool.

    Returns:
        Scalar; 0 when there is no real line.
    """
    batch, length = target.shape
    bins = batch * length + 1
    ids = segment_ids(target, mask).flatten()
    flat = torch.where(mask, values, torch.zeros_like(values)).flatten()
    counts = torch.zeros(bins, device=values.device).scatter_add_(0, ids, mask.flatten().float())
    sums = torch.zeros(bins, device=values.device).scatter_add_(0, ids, flat)
    means = sums / counts.clamp_min(1.0)
    deviations = torch.where(mask.flatten(), (flat - means[ids]) ** 2, torch.zeros_like(flat))
    variances = torch.zeros(bins, device=values.device).scatter_add_(0, ids, deviations)
    variances = variances / counts.clamp_min(1.0)
    real = counts[:-1] > 0
    return torch.where(
        real, variances[:-1], torch.zeros_like(variances[:-1])
    ).sum() / real.sum().clamp_min(1)


class BoundaryAwareLoss(CrossEntropyLoss):
    """Boundary-weighted cross-entropy with segment consistency and a confidence penalty.

    Lines at a label transition (and, with ``include_previous_line``, the line before it, then
    widened by ``boundary_window`` lines each side) are boundary lines ``b_i = 1``.

    * ``use_boundary_as_primary=True``: ``primary = sum(a_i * l_i) / sum(a_i * n_i)`` with
      ``a_i = boundary_weight`` on boundary lines and 1 elsewhere (``l_i``/``n_i`` as in
      :class:`CrossEntropyLoss`); reported as ``ce``.
    * ``use_boundary_as_primary=False``: ``ce`` is the plain CE mean, ``boundary`` the CE mean
      over boundary lines only, and ``primary = ce + (boundary_weight - 1) * boundary``.

    ``total = primary + segment_consistency_lambda * consistency
    + conf_penalty_lambda * confidence - entropy_lambda * entropy`` where ``consistency`` is the
    mean within-segment variance of P(chorus), ``confidence`` the mean of
    ``max(0, p_max - conf_threshold)**2`` and ``entropy`` the mean prediction entropy.

    Args:
        num_classes: Number of classes C.
        label_smoothing: See :class:`CrossEntropyLoss`.
        class_weights: See :class:`CrossEntropyLoss`.
        beta: See :class:`CrossEntropyLoss`.
        max_class_weight: See :class:`CrossEntropyLoss`.
        entropy_lambda: See :class:`CrossEntropyLoss`.
        boundary_weight: Weight (>= 1 is typical) of boundary lines.
        boundary_window: Extra lines on each side of a transition that count as boundary.
        include_previous_line: Mark the last line before a transition as well.
        use_boundary_as_primary: Fold boundary weighting into the primary CE (see above).
        segment_consistency_lambda: Weight of the segment consistency term.
        conf_penalty_lambda: Weight of the over-confidence penalty.
        conf_threshold: Max-probability above which the penalty starts.
        chorus_index: Class whose probability the consistency term looks at.
    """

    name = "boundary_aware"

    def __init__(
        self,
        num_classes: int = 2,
        label_smoothing: float = 0.15,
        class_weights: str | Sequence[float] | None = None,
        beta: float = 0.999,
        max_class_weight: float | None = None,
        entropy_lambda: float = 0.0,
        boundary_weight: float = 2.0,
        boundary_window: int = 0,
        include_previous_line: bool = True,
        use_boundary_as_primary: bool = True,
        segment_consistency_lambda: float = 0.03,
        conf_penalty_lambda: float = 0.005,
        conf_threshold: float = 0.95,
        chorus_index: int = 1,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            label_smoothing=label_smoothing,
            class_weights=class_weights,
            beta=beta,
            max_class_weight=max_class_weight,
            entropy_lambda=entropy_lambda,
        )
        if boundary_weight < 0:
            raise LyricsegError(f"boundary_weight must be non-negative, got {boundary_weight}")
        if boundary_window < 0:
            raise LyricsegError(f"boundary_window must be non-negative, got {boundary_window}")
        if not 0.0 <= conf_threshold < 1.0:
            raise LyricsegError(f"conf_threshold must be in [0, 1), got {conf_threshold}")
        if not 0 <= chorus_index < num_classes:
            raise LyricsegError(f"chorus_index {chorus_index} out of range for {num_classes}")
        self.boundary_weight = float(boundary_weight)
        self.boundary_window = int(boundary_window)
        self.include_previous_line = bool(include_previous_line)
        self.use_boundary_as_primary = bool(use_boundary_as_primary)
        self.segment_consistency_lambda = float(segment_consistency_lambda)
        self.conf_penalty_lambda = float(conf_penalty_lambda)
        self.conf_threshold = float(conf_threshold)
        self.chorus_index = int(chorus_index)

    def boundary_mask(self, target: Tensor, mask: Tensor) -> Tensor:
        """``[B, T]`` bool: the lines that count as boundary lines."""
        flags = boundary_lines(target, mask, self.include_previous_line)
        return dilate(flags, self.boundary_window) & mask

    def forward(
        self, logits: Tensor, target: Tensor, mask: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute the loss.

        Args:
            logits: ``[B, T, C]`` unnormalised scores.
            target: ``[B, T]`` long labels.
            mask: ``[B, T]`` bool, True for real lines.

        Returns:
            ``(total, components)``. Components hold the unweighted terms; a term is present
            exactly when it takes part in the total: ``ce`` always, ``boundary`` when
            ``use_boundary_as_primary`` is False, ``consistency``, ``confidence`` and
            ``entropy`` when their lambda is non-zero.
        """
        logits, target, mask = self._prepare(logits, target, mask)
        loss, norm = self.per_line(logits, target, mask)
        boundary = self.boundary_mask(target, mask)
        components: dict[str, Tensor] = {}
        if self.use_boundary_as_primary:
            scale = torch.where(boundary, self.boundary_weight, 1.0)
            ce = self.weighted_mean(loss * scale, norm * scale, mask)
            components["ce"] = ce
            total = ce
        else:
            ce = self.weighted_mean(loss, norm, mask)
            boundary_ce = self.weighted_mean(loss, norm, boundary)
            components["ce"] = ce
            components["boundary"] = boundary_ce
            total = ce + (self.boundary_weight - 1.0) * boundary_ce

        probs = logits.softmax(dim=-1)
        if self.segment_consistency_lambda != 0.0:
            consistency = segment_variance(probs[..., self.chorus_index], target, mask)
            components["consistency"] = consistency
            total = total + self.segment_consistency_lambda * consistency
        if self.conf_penalty_lambda != 0.0:
            excess = (probs.max(dim=-1).values - self.conf_threshold).clamp_min(0.0)
            confidence = masked_mean(excess**2, mask)
            components["confidence"] = confidence
            total = total + self.conf_penalty_lambda * confidence
        if self.entropy_lambda != 0.0:
            entropy = masked_mean(prediction_entropy(logits), mask)
            components["entropy"] = entropy
            total = total - self.entropy_lambda * entropy
        return total, components

    def term_weights(self) -> dict[str, float]:
        """Weight of each logged term, present exactly when the term is logged.

        ``ce`` 1, ``boundary`` ``boundary_weight - 1`` (separate mode only), ``consistency``
        and ``confidence`` their lambdas, ``entropy`` ``-entropy_lambda``.
        """
        weights = {"ce": 1.0}
        if not self.use_boundary_as_primary:
            weights["boundary"] = self.boundary_weight - 1.0
        if self.segment_consistency_lambda != 0.0:
            weights["consistency"] = self.segment_consistency_lambda
        if self.conf_penalty_lambda != 0.0:
            weights["confidence"] = self.conf_penalty_lambda
        if self.entropy_lambda != 0.0:
            weights["entropy"] = -self.entropy_lambda
        return weights

    def folded_terms(self) -> set[str]:
        """``{"boundary"}`` when the boundary emphasis is folded into ``ce``."""
        if self.use_boundary_as_primary and self.boundary_weight != 1.0:
            return {"boundary"}
        return set()

    def extra_repr_items(self) -> dict[str, object]:
        """Parameters shown by :meth:`describe`."""
        items = super().extra_repr_items()
        items.update(
            boundary_weight=self.boundary_weight,
            boundary_window=self.boundary_window,
            include_previous_line=self.include_previous_line,
            use_boundary_as_primary=self.use_boundary_as_primary,
            segment_consistency_lambda=self.segment_consistency_lambda,
            conf_penalty_lambda=self.conf_penalty_lambda,
            conf_threshold=self.conf_threshold,
        )
        return items
