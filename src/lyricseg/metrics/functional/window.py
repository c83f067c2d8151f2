"""WindowDiff and Pk per song, with a per-song window.

A song of ``n`` lines has a boundary string of ``n - 1`` gaps (1 where the label changes).
The window is ``k = round_half_up(mean_true_segment_length / 2)`` clamped to ``[1, n - 1]``,
with ``mean_true_segment_length = n / number_of_true_segments``. Each window of ``k`` gaps
is an error for WindowDiff when the two boundary counts differ, and for Pk when exactly one
of them is zero; the score is the error share over the ``n - k`` windows. Songs with fewer
than two lines have no gap and are left out of the average.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lyricseg.metrics.functional._common import boundary_starts, safe_div


def window_size(n_lines: Tensor, n_true_boundaries: Tensor) -> Tensor:
    """Per-song window ``k`` (half the mean gold segment length, rounded half up).

    Args:
        n_lines: ``[B]`` song lengths.
        n_true_boundaries: ``[B]`` number of gold boundaries per song.

    Returns:
        ``[B]`` long window sizes, clamped to ``[1, max(n - 1, 1)]``.
    """
    n_segments = n_true_boundaries.long() + 1
    # floor(n / (2 s) + 1/2) computed exactly in integers.
    k = torch.div(n_lines.long() + n_segments, 2 * n_segments, rounding_mode="floor")
    upper = (n_lines.long() - 1).clamp_min(1)
    return torch.minimum(k.clamp_min(1), upper)


def _window_update(preds: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Sum per-song WindowDiff and Pk over one padded batch.

    Args:
        preds: ``[B, T]`` decided labels.
        target: ``[B, T]`` gold labels.
        mask: ``[B, T]`` bool, ``True`` on a prefix of each row.

    Returns:
        ``[3]`` float64: sum of WindowDiff, sum of Pk, number of songs with ``n >= 2``.
    """
    n = mask.sum(1)
    scored = n >= 2
    if preds.shape[1] < 2 or not bool(scored.any()):
        return torch.zeros(3, dtype=torch.float64, device=preds.device)
    # Gap j lies between lines j and j + 1.
    gaps_true = boundary_starts(target, mask)[:, 1:].long()
    gaps_pred = boundary_starts(preds, mask)[:, 1:].long()
    zero = torch.zeros_like(gaps_true[:, :1])
    cum_true = torch.cat([zero, gaps_true.cumsum(1)], dim=1)  # [B, T]
    cum_pred = torch.cat([zero, gaps_pred.cumsum(1)], dim=1)
    k = window_size(n, gaps_true.sum(1))  # [B]
    n_windows = n - k
    start = torch.arange(preds.shape[1], device=preds.device).unsqueeze(0)  # [1, T]
    valid = (start < n_windows.unsqueeze(1)) & scored.unsqueeze(1)
    end = (start + k.unsqueeze(1)).clamp(max=preds.shape[1] - 1)
    count_true = cum_true.gather(1, end) - cum_true
    count_pred = cum_pred.gather(1, end) - cum_pred
    wd_err = ((count_true != count_pred) & valid).sum(1)
    pk_err = (((count_true > 0) != (count_pred > 0)) & valid).sum(1)
    wd = safe_div(wd_err, n_windows.clamp_min(1))[scored].sum()
    pk = safe_div(pk_err, n_windows.clamp_min(1))[scored].sum()
    return torch.stack([wd, pk, scored.sum().double()])


def _window_compute(sums: Tensor) -> dict[str, Tensor]:
    """Average the per-song sums (0 when no song has two lines).

    Args:
        sums: ``[3]`` from :func:`_window_update`.

    Returns:
        ``window_diff`` and ``pk`` as float64 scalars.
    """
    return {"window_diff": safe_div(sums[0], sums[2]), "pk": safe_div(sums[1], sums[2])}
