"""Reliability-diagram data from binned calibration counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from lyricseg.metrics.functional import _calibration_compute, _calibration_update


def reliability_data(
    probs: Tensor | np.ndarray, labels: Tensor | np.ndarray, n_bins: int = 15
) -> dict[str, Any]:
    """Per-bin accuracy and confidence of the more probable class, for plots.

    Uses the same binning as the ``ece`` metric: confidence ``max(p, 1 - p)``, correct when
    ``(p > 0.5) == label``.

    Args:
        probs: ``[N]`` ``P(chorus)``.
        labels: ``[N]`` gold labels.
        n_bins: Equal-width bins over ``[0, 1]``.

    Returns:
        ``bin_edges`` ``[n_bins + 1]``, ``bin_centers``, ``accuracies``, ``confidences``
        (NaN in empty bins) and ``counts`` ``[n_bins]`` as numpy arrays, plus ``ece`` and
        ``mce`` floats.
    """
    p = torch.as_tensor(probs).reshape(-1)
    y = torch.as_tensor(labels).reshape(-1).long()
    if not p.is_floating_point():
        p = p.double()
    bins, tails = _calibration_update(p, y, torch.ones_like(y, dtype=torch.bool), n_bins)
    scores = _calibration_compute(bins, tails)
    count, conf_sum, correct_sum = bins.numpy()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracies = np.where(count > 0, correct_sum / count, np.nan)
        confidences = np.where(count > 0, conf_sum / count, np.nan)
    return {
        "bin_edges": edges,
        "bin_centers": (edges[:-1] + edges[1:]) / 2,
        "accuracies": accuracies,
        "confidences": confidences,
        "counts": count.astype(np.int64),
        "ece": float(scores["ece"]),
        "mce": float(scores["mce"]),
    }
