"""Segment-level scores over gold segments (maximal runs of one gold label).

* complete-segment rate: share of gold segments predicted exactly, i.e. every line inside
  has the gold label and the predicted labels change at both ends (or the song ends), so
  the predicted segment holding it has the same span;
* segment IoU: for each gold segment, the best intersection-over-union of its span with a
  predicted segment's span (label-agnostic: it scores where the sections are, label
  correctness is covered by the other scores), averaged over all gold segments;
* transition recall: share of gold verse-to-chorus (and chorus-to-verse) changes that the
  prediction makes at the same line and in the same direction.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lyricseg.metrics.functional._common import boundary_starts, safe_div

#: Layout of the integer count vector returned by :func:`_segment_update`.
SEGMENT_COUNTS = ("n_segments", "n_complete", "v2c_hit", "v2c_total", "c2v_hit", "c2v_total")


def _one_hot_segments(seg_id: Tensor, mask: Tensor, n_seg: int) -> Tensor:
    ids = torch.arange(n_seg, device=seg_id.device)
    return ((seg_id.unsqueeze(-1) == ids) & mask.unsqueeze(-1)).float()  # [B, T, S]


def _segment_update(preds: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Count segment scores for one padded batch.

    Args:
        preds: ``[B, T]`` decided labels.
        target: ``[B, T]`` gold labels (1 = chorus).
        mask: ``[B, T]`` bool, ``True`` on real lines.

    Returns:
        ``([6] long counts laid out as SEGMENT_COUNTS, [] float64 sum of best IoUs)``.
    """
    device = preds.device
    if not bool(mask.any()):
        return torch.zeros(len(SEGMENT_COUNTS), dtype=torch.long, device=device), torch.zeros(
            (), dtype=torch.float64, device=device
        )
    bt = boundary_starts(target, mask)
    bp = boundary_starts(preds, mask)
    sid_t = bt.long().cumsum(1)  # segment index of each line within its song
    sid_p = bp.long().cumsum(1)
    n_st = int(sid_t.max()) + 1
    n_sp = int(sid_p.max()) + 1
    onehot_t = _one_hot_segments(sid_t, mask, n_st)
    onehot_p = _one_hot_segments(sid_p, mask, n_sp)
    inter = onehot_t.transpose(1, 2) @ onehot_p  # [B, St, Sp]
    len_t = onehot_t.sum(1)  # [B, St]
    len_p = onehot_p.sum(1)  # [B, Sp]
    inter = inter.double()  # integer counts, exact in float32; divide in float64
    union = len_t.double().unsqueeze(2) + len_p.double().unsqueeze(1) - inter
    iou = torch.where(inter > 0, inter / union.clamp_min(1), torch.zeros_like(inter))
    exists = len_t > 0
    iou_sum = iou.amax(2)[exists].sum()

    # A gold segment is complete when no line inside is wrong and the prediction also
    # changes label at each gold boundary around it.
    wrong = ((preds != target) & mask).long()
    bad = torch.zeros_like(len_t, dtype=torch.long)
    bad.scatter_add_(1, sid_t * mask, wrong)
    missed = (bt & ~bp).long()  # gold boundary i not predicted: hurts segments sid-1 and sid
    bad.scatter_add_(1, sid_t, missed)
    bad.scatter_add_(1, (sid_t - 1).clamp_min(0), missed)
    n_complete = ((bad == 0) & exists).sum()

    prev_t, cur_t = target[:, :-1], target[:, 1:]
    prev_p, cur_p = preds[:, :-1], preds[:, 1:]
    starts = bt[:, 1:]
    v2c = starts & (prev_t == 0) & (cur_t == 1)
    c2v = starts & (prev_t == 1) & (cur_t == 0)
    v2c_hit = v2c & (prev_p == 0) & (cur_p == 1)
    c2v_hit = c2v & (prev_p == 1) & (cur_p == 0)
    counts = torch.stack(
        [exists.sum(), n_complete, v2c_hit.sum(), v2c.sum(), c2v_hit.sum(), c2v.sum()]
    ).long()
    return counts, iou_sum


def _segment_compute(counts: Tensor, iou_sum: Tensor) -> dict[str, Tensor]:
    """Turn pooled segment counts into rates (0 when undefined).

    Args:
        counts: ``[6]`` counts laid out as :data:`SEGMENT_COUNTS`.
        iou_sum: Scalar sum of best IoUs.

    Returns:
        ``complete_segments``, ``segment_iou``, ``transition_recall_v2c`` and
        ``transition_recall_c2v`` as float64 scalars.
    """
    return {
        "complete_segments": safe_div(counts[1], counts[0]),
        "segment_iou": safe_div(iou_sum, counts[0]),
        "transition_recall_v2c": safe_div(counts[2], counts[3]),
        "transition_recall_c2v": safe_div(counts[4], counts[5]),
    }
