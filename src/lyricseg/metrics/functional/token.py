"""Line-level (token) classification scores: accuracy and per-class F1."""

from __future__ import annotations

import torch
from torch import Tensor

from lyricseg.metrics.functional._common import safe_div


def _token_update(preds: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Count a 2x2 confusion matrix over the real lines of a batch.

    Args:
        preds: ``[B, T]`` decided labels in ``{0, 1}``.
        target: ``[B, T]`` gold labels in ``{0, 1}``.
        mask: ``[B, T]`` bool, ``True`` on real lines.

    Returns:
        ``[2, 2]`` long tensor; entry ``[t, p]`` counts lines with gold ``t`` predicted ``p``.
    """
    idx = target[mask].long() * 2 + preds[mask].long()
    return torch.bincount(idx, minlength=4).view(2, 2)


def _token_compute(confmat: Tensor) -> dict[str, Tensor]:
    """Turn a confusion matrix into accuracy, per-class F1 and the predicted chorus rate.

    F1 of a class with no gold and no predicted lines is 0 (scikit-learn's
    ``zero_division=0``); macro F1 always averages both classes.

    Args:
        confmat: ``[2, 2]`` counts from :func:`_token_update`.

    Returns:
        Scalar float64 tensors ``accuracy``, ``macro_f1``, ``verse_f1``, ``chorus_f1`` and
        ``pred_chorus_rate``.
    """
    confmat = confmat.double()
    total = confmat.sum()
    tp = confmat.diagonal()
    pred_count = confmat.sum(0)
    true_count = confmat.sum(1)
    f1 = safe_div(2 * tp, pred_count + true_count)
    return {
        "accuracy": safe_div(tp.sum(), total),
        "macro_f1": f1.mean(),
        "verse_f1": f1[0],
        "chorus_f1": f1[1],
        "pred_chorus_rate": safe_div(pred_count[1], total),
    }
