"""torchmetrics wrappers around the pure helpers in :mod:`lyricseg.metrics.functional`.

Every metric shares one ``update(preds, target, mask, probs=None)`` signature so a
``MetricCollection`` can be fed with keywords, and every state is a fixed-size ``"sum"``
counter: memory stays constant and N processes give the numbers of one. Each metric
returns a dict of related scores; ``MetricCollection`` flattens them under its prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from lyricseg.metrics.functional import (
    SEGMENT_COUNTS,
    _boundary_compute,
    _boundary_update,
    _calibration_compute,
    _calibration_update,
    _segment_compute,
    _segment_update,
    _token_compute,
    _token_update,
    _window_compute,
    _window_update,
    check_inputs,
)
from lyricseg.utils import LyricsegError


class _SegmentationMetric(Metric):
    """Common flags of the lyricseg metrics (sum states, no gradients)."""

    is_differentiable = False
    higher_is_better = None
    full_state_update = False


class TokenMetrics(_SegmentationMetric):
    """Line accuracy, macro/verse/chorus F1 and predicted chorus rate, pooled over lines.

    F1 of a class with no gold and no predicted lines is 0 (``zero_division=0``).
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("confmat", torch.zeros(2, 2, dtype=torch.long), dist_reduce_fx="sum")

    def update(
        self, preds: Tensor, target: Tensor, mask: Tensor, probs: Tensor | None = None
    ) -> None:
        """Add one batch.

        Args:
            preds: ``[B, T]`` decided labels.
            target: ``[B, T]`` gold labels.
            mask: ``[B, T]`` bool, ``True`` on real lines.
            probs: ``[B, T]`` ``P(chorus)``; unused.
        """
        check_inputs(preds, target, mask, probs)
        self.confmat += _token_update(preds, target, mask)

    def compute(self) -> dict[str, Tensor]:
        """Return ``accuracy``, ``macro_f1``, ``verse_f1``, ``chorus_f1``, ``pred_chorus_rate``."""
        return _token_compute(self.confmat)


class BoundaryMetrics(_SegmentationMetric):
    """Boundary precision, recall and F1 pooled over the corpus, exact and within tolerances.

    Args:
        tolerances: Positive tolerances (lines) reported as ``boundary_f1_tol{w}``.
    """

    def __init__(self, tolerances: Sequence[int] = (1, 2), **kwargs) -> None:
        super().__init__(**kwargs)
        if any(int(t) < 1 for t in tolerances):
            raise LyricsegError(f"boundary tolerances must be >= 1, got {list(tolerances)}")
        self.tolerances = tuple(int(t) for t in tolerances)
        self.add_state(
            "counts", torch.zeros(3 + len(self.tolerances), dtype=torch.long), dist_reduce_fx="sum"
        )

    def update(
        self, preds: Tensor, target: Tensor, mask: Tensor, probs: Tensor | None = None
    ) -> None:
        """Add one batch.

        Args:
            preds: ``[B, T]`` decided labels.
            target: ``[B, T]`` gold labels.
            mask: ``[B, T]`` bool, ``True`` on real lines.
            probs: ``[B, T]`` ``P(chorus)``; unused.
        """
        check_inputs(preds, target, mask, probs)
        self.counts += _boundary_update(preds, target, mask, self.tolerances)

    def compute(self) -> dict[str, Tensor]:
        """Return ``boundary_precision``, ``boundary_recall``, ``boundary_f1``, ``..._tol{w}``."""
        return _boundary_compute(self.counts, self.tolerances)


class WindowMetrics(_SegmentationMetric):
    """WindowDiff and Pk per song (window from the gold segment length), mean over songs."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("sums", torch.zeros(3, dtype=torch.float64), dist_reduce_fx="sum")

    def update(
        self, preds: Tensor, target: Tensor, mask: Tensor, probs: Tensor | None = None
    ) -> None:
        """Add one batch.

        Args:
            preds: ``[B, T]`` decided labels.
            target: ``[B, T]`` gold labels.
            mask: ``[B, T]`` bool, ``True`` on a prefix of each row.
            probs: ``[B, T]`` ``P(chorus)``; unused.
        """
        check_inputs(preds, target, mask, probs)
        self.sums += _window_update(preds, target, mask)

    def compute(self) -> dict[str, Tensor]:
        """Return ``window_diff`` and ``pk`` (lower is better)."""
        return _window_compute(self.sums)


class SegmentMetrics(_SegmentationMetric):
    """Complete-segment rate, mean best segment IoU and transition recalls."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state(
            "counts", torch.zeros(len(SEGMENT_COUNTS), dtype=torch.long), dist_reduce_fx="sum"
        )
        self.add_state("iou_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(
        self, preds: Tensor, target: Tensor, mask: Tensor, probs: Tensor | None = None
    ) -> None:
        """Add one batch.

        Args:
            preds: ``[B, T]`` decided labels.
            target: ``[B, T]`` gold labels.
            mask: ``[B, T]`` bool, ``True`` on real lines.
            probs: ``[B, T]`` ``P(chorus)``; unused.
        """
        check_inputs(preds, target, mask, probs)
        counts, iou_sum = _segment_update(preds, target, mask)
        self.counts += counts
        self.iou_sum += iou_sum

    def compute(self) -> dict[str, Tensor]:
        """Return ``complete_segments``, ``segment_iou``, ``transition_recall_{v2c,c2v}``."""
        return _segment_compute(self.counts, self.iou_sum)


class CalibrationMetrics(_SegmentationMetric):
    """Binned ECE/MCE of ``P(chorus)`` and the share of over-confident lines.

    Unlike torchmetrics' ``BinaryCalibrationError`` (which keeps every prediction), only
    per-bin sums are stored.

    Args:
        n_bins: Number of equal-width confidence bins.
    """

    def __init__(self, n_bins: int = 15, **kwargs) -> None:
        super().__init__(**kwargs)
        if n_bins < 1:
            raise LyricsegError(f"n_bins must be >= 1, got {n_bins}")
        self.n_bins = int(n_bins)
        self.add_state("bins", torch.zeros(3, self.n_bins, dtype=torch.float64), "sum")
        self.add_state("tails", torch.zeros(3, dtype=torch.float64), dist_reduce_fx="sum")

    def update(
        self, preds: Tensor, target: Tensor, mask: Tensor, probs: Tensor | None = None
    ) -> None:
        """Add one batch.

        Args:
            preds: ``[B, T]`` decided labels; unused (confidence comes from ``probs``).
            target: ``[B, T]`` gold labels.
            mask: ``[B, T]`` bool, ``True`` on real lines.
            probs: ``[B, T]`` ``P(chorus)``; required.

        Raises:
            LyricsegError: When ``probs`` is missing.
        """
        if probs is None:
            raise LyricsegError("CalibrationMetrics.update needs probs (P(chorus), [B, T])")
        check_inputs(preds, target, mask, probs)
        # float32 at least: half-precision bin edges would misplace confidences
        probs = probs.detach().to(torch.promote_types(probs.dtype, torch.float32))
        bins, tails = _calibration_update(probs, target, mask, self.n_bins)
        self.bins += bins
        self.tails += tails

    def compute(self) -> dict[str, Tensor]:
        """Return ``ece``, ``mce``, ``conf_over_95`` and ``conf_over_90``."""
        return _calibration_compute(self.bins, self.tails)
