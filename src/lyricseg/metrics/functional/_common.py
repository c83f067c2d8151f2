"""Shared tensor helpers for the segmentation metrics.

All helpers take one padded batch. Real lines of a song must come first in its row
(``mask[b]`` is ``True`` for a prefix of the row), which is how the collate function pads.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lyricseg.utils import LyricsegError


def check_inputs(preds: Tensor, target: Tensor, mask: Tensor, probs: Tensor | None = None) -> None:
    """Validate the shared ``update`` inputs.

    Args:
        preds: Decided labels, ``[B, T]`` integer.
        target: Gold labels, ``[B, T]`` integer.
        mask: ``[B, T]`` bool, ``True`` on real lines.
        probs: Optional ``P(chorus)``, ``[B, T]`` float.

    Raises:
        LyricsegError: On a shape or dtype mismatch.
    """
    if preds.ndim != 2:
        shape = tuple(preds.shape)
        raise LyricsegError(f"metrics expect [B, T] inputs, got preds of shape {shape}")
    for name, tensor in (("target", target), ("mask", mask), ("probs", probs)):
        if tensor is not None and tensor.shape != preds.shape:
            raise LyricsegError(
                f"metric input '{name}' has shape {tuple(tensor.shape)}, "
                f"expected {tuple(preds.shape)} like preds"
            )
    if mask.dtype != torch.bool:
        raise LyricsegError(f"mask must be bool, got {mask.dtype}")
    if preds.is_floating_point() or target.is_floating_point():
        raise LyricsegError("preds and target must be integer labels; pass probabilities as probs")


def boundary_starts(labels: Tensor, mask: Tensor) -> Tensor:
    """Mark the lines that open a new segment.

    Args:
        labels: ``[B, T]`` integer labels.
        mask: ``[B, T]`` bool, ``True`` on real lines.

    Returns:
        ``[B, T]`` bool: entry ``i`` is ``True`` when ``i >= 1``, lines ``i - 1`` and ``i``
        are both real and their labels differ. Column 0 is always ``False``.
    """
    out = torch.zeros_like(mask)
    if labels.shape[1] > 1:
        change = labels[:, 1:] != labels[:, :-1]
        out[:, 1:] = change & mask[:, 1:] & mask[:, :-1]
    return out


def safe_div(num: Tensor, den: Tensor) -> Tensor:
    """Divide elementwise, giving 0 where ``den == 0`` (scikit-learn's ``zero_division=0``).

    Args:
        num: Numerator, any shape.
        den: Denominator, broadcastable to ``num``.

    Returns:
        Float tensor of the broadcast shape.
    """
    num = num.double()
    den = den.double()
    return torch.where(den > 0, num / den.clamp_min(1e-300), torch.zeros_like(num))
