"""Boundary precision, recall and F1, exact and with a tolerance in lines.

A boundary sits at line ``i >= 1`` of a song when ``label[i] != label[i - 1]``. With a
tolerance ``w``, predicted and gold boundaries at most ``w`` lines apart are paired one to
one, and the count is the largest number of such pairs (a maximum matching).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from lyricseg.metrics.functional._common import boundary_starts, safe_div


def greedy_match_count(true_pos: Sequence[int], pred_pos: Sequence[int], tolerance: int) -> int:
    """Size of a maximum one-to-one matching of boundaries at most ``tolerance`` apart.

    Every gold boundary ``t`` accepts the predictions in ``[t - tolerance, t + tolerance]``:
    windows of one length on a line, so both their starts and their ends rise with ``t``.
    Scanning both lists in order and pairing each gold boundary with the earliest unmatched
    prediction inside its window is then optimal (the classic interval-point argument: a
    prediction left of the current window is left of every later window too, and taking the
    earliest usable one leaves later gold boundaries the most choice).

    Args:
        true_pos: Gold boundary positions of one song, distinct.
        pred_pos: Predicted boundary positions of the same song, distinct.
        tolerance: Largest allowed distance in lines, ``>= 0``.

    Returns:
        Number of matched pairs.
    """
    preds = sorted(pred_pos)
    j = hits = 0
    for t in sorted(true_pos):
        while j < len(preds) and preds[j] < t - tolerance:
            j += 1
        if j == len(preds):
            break
        if preds[j] <= t + tolerance:
            hits += 1
            j += 1
    return hits


def _boundary_update(
    preds: Tensor, target: Tensor, mask: Tensor, tolerances: Sequence[int] = (1, 2)
) -> Tensor:
    """Count boundaries and matches in one padded batch.

    Exact matches are counted on the device; tolerant matching walks the (few) boundaries of
    each song on the CPU.

    Args:
        preds: ``[B, T]`` decided labels.
        target: ``[B, T]`` gold labels.
        mask: ``[B, T]`` bool, ``True`` on real lines.
        tolerances: Positive tolerances to count besides the exact match.

    Returns:
        ``[3 + len(tolerances)]`` long tensor: predicted boundaries, gold boundaries, exact
        matches, then matches within each tolerance.
    """
    bp = boundary_starts(preds, mask)
    bt = boundary_starts(target, mask)
    counts = [bp.sum(), bt.sum(), (bp & bt).sum()]
    tol_counts = [0] * len(tolerances)
    if tolerances:
        pred_rows = _positions_by_row(bp)
        true_rows = _positions_by_row(bt)
        for row, true_pos in true_rows.items():
            pred_pos = pred_rows.get(row)
            if not pred_pos:
                continue
            for j, tol in enumerate(tolerances):
                tol_counts[j] += greedy_match_count(true_pos, pred_pos, tol)
    out = torch.stack(counts).long()
    return torch.cat([out, torch.tensor(tol_counts, dtype=torch.long, device=out.device)])


def _positions_by_row(flags: Tensor) -> dict[int, list[int]]:
    rows: dict[int, list[int]] = {}
    for b, i in flags.nonzero().tolist():
        rows.setdefault(b, []).append(i)
    return rows


def _boundary_compute(counts: Tensor, tolerances: Sequence[int] = (1, 2)) -> dict[str, Tensor]:
    """Pool boundary counts into precision, recall and F1 (0 when undefined).

    Args:
        counts: ``[3 + len(tolerances)]`` counts from :func:`_boundary_update`.
        tolerances: The tolerances used in the update, in the same order.

    Returns:
        ``boundary_precision``, ``boundary_recall``, ``boundary_f1`` and
        ``boundary_f1_tol{w}`` for each tolerance, as float64 scalars.
    """
    n_pred, n_true, tp = counts[0], counts[1], counts[2]
    out = {
        "boundary_precision": safe_div(tp, n_pred),
        "boundary_recall": safe_div(tp, n_true),
        "boundary_f1": safe_div(2 * tp, n_pred + n_true),
    }
    for j, tol in enumerate(tolerances):
        out[f"boundary_f1_tol{tol}"] = safe_div(2 * counts[3 + j], n_pred + n_true)
    return out
