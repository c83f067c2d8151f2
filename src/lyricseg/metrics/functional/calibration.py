"""Binned calibration counts for binary verse/chorus probabilities.

Confidence is that of the more probable class, ``max(p, 1 - p)`` with ``p = P(chorus)``;
a line counts as correct when ``(p > 0.5) == target``. The interval ``[0, 1]`` is cut into
``n_bins`` equal-width bins, left-closed, with a confidence of exactly 1 in the last bin.
Only per-bin sums are kept, so the state has constant size and adds across processes.
ECE is the count-weighted mean absolute gap between accuracy and confidence per bin (L1),
MCE the largest gap over non-empty bins.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lyricseg.metrics.functional._common import safe_div


def confidence_and_correct(probs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Confidence of the more probable class and whether that class is right.

    Args:
        probs: ``P(chorus)``, any shape.
        target: Gold labels, same shape.

    Returns:
        ``(confidence, correct)``, both float tensors of the input shape.
    """
    conf = torch.maximum(probs, 1 - probs)
    correct = ((probs > 0.5).long() == target.long()).to(conf.dtype)
    return conf, correct


def bin_index(conf: Tensor, n_bins: int) -> Tensor:
    """Equal-width bin of each confidence (``[i/n, (i+1)/n)``, 1.0 in the last bin).

    Args:
        conf: Confidences in ``[0, 1]``, any shape.
        n_bins: Number of bins.

    Returns:
        Long tensor of the input shape with values in ``[0, n_bins - 1]``.
    """
    edges = torch.linspace(0, 1, n_bins + 1, dtype=conf.dtype, device=conf.device)
    return (torch.bucketize(conf, edges, right=True) - 1).clamp(0, n_bins - 1)


def _calibration_update(
    probs: Tensor, target: Tensor, mask: Tensor, n_bins: int = 15
) -> tuple[Tensor, Tensor]:
    """Accumulate per-bin sums over the real lines of one batch.

    Args:
        probs: ``[B, T]`` (or any shape) ``P(chorus)``.
        target: Gold labels, same shape.
        mask: Bool, same shape, ``True`` on real lines.
        n_bins: Number of equal-width bins.

    Returns:
        ``bins``: ``[3, n_bins]`` float64 rows (count, sum of confidence, sum of correct);
        ``tails``: ``[3]`` float64 (lines, lines with confidence > 0.95, > 0.90).
    """
    conf, correct = confidence_and_correct(probs[mask], target[mask])
    idx = bin_index(conf, n_bins)
    bins = torch.zeros(3, n_bins, dtype=torch.float64, device=probs.device)
    bins[0].scatter_add_(0, idx, torch.ones_like(conf, dtype=torch.float64))
    bins[1].scatter_add_(0, idx, conf.double())
    bins[2].scatter_add_(0, idx, correct.double())
    tails = torch.stack(
        [
            torch.tensor(float(conf.numel()), dtype=torch.float64, device=probs.device),
            (conf > 0.95).sum().double(),
            (conf > 0.90).sum().double(),
        ]
    )
    return bins, tails


def _calibration_compute(bins: Tensor, tails: Tensor) -> dict[str, Tensor]:
    """ECE, MCE and over-confidence shares from pooled sums (0 on no data).

    Args:
        bins: ``[3, n_bins]`` pooled sums from :func:`_calibration_update`.
        tails: ``[3]`` pooled counts from :func:`_calibration_update`.

    Returns:
        ``ece``, ``mce``, ``conf_over_95`` and ``conf_over_90`` as float64 scalars.
    """
    count, conf_sum, correct_sum = bins
    gap = (correct_sum - conf_sum).abs()
    per_bin = safe_div(gap, count)
    return {
        "ece": safe_div(gap.sum(), count.sum()),
        "mce": per_bin.max() if per_bin.numel() else per_bin.new_zeros(()),
        "conf_over_95": safe_div(tails[1], tails[0]),
        "conf_over_90": safe_div(tails[2], tails[0]),
    }


def binary_ece(probs: Tensor, target: Tensor, n_bins: int = 15) -> Tensor:
    """Expected calibration error of ``P(chorus)`` on flat inputs.

    Args:
        probs: ``[N]`` ``P(chorus)``.
        target: ``[N]`` gold labels.
        n_bins: Number of equal-width bins.

    Returns:
        Scalar float64 ECE.
    """
    mask = torch.ones_like(target, dtype=torch.bool)
    bins, tails = _calibration_update(probs, target, mask, n_bins)
    return _calibration_compute(bins, tails)["ece"]
