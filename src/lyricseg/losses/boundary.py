"""Distance-based boundary loss for line sequences, after Kervadec et al. (2019).

The loss integrates the predicted probabilities against a signed distance map of the true
regions (a level-set view of the segmentation): probability mass placed far from where a class
truly is costs more than mass placed next to one of its borders.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lyricseg.losses.base import SegmentationLoss, masked_mean


def _nearest_distance(members: Tensor) -> Tensor:
    """Distance (in lines) from each position to the nearest True entry along the last axis.

    Args:
        members: ``[..., T]`` bool.

    Returns:
        ``[..., T]`` float; ``inf`` where a row has no True entry.
    """
    length = members.shape[-1]
    idx = torch.arange(length, device=members.device, dtype=torch.float32).expand_as(members)
    neg_inf = torch.full_like(idx, float("-inf"))
    previous = torch.where(members, idx, neg_inf).cummax(dim=-1).values
    following = -torch.where(members, -idx, neg_inf).flip(-1).cummax(dim=-1).values.flip(-1)
    return torch.minimum(idx - previous, following - idx)


@torch.no_grad()
def signed_distance_maps(target: Tensor, mask: Tensor, num_classes: int) -> Tensor:
    """Signed distance of every line to the border of each true class region.

    Borders lie between lines, so a line next to a border is 0.5 away. For class ``k`` and a
    line inside its region the value is ``-(d - 0.5)`` with ``d`` the distance to the nearest
    real line of another class; outside it is ``+(d - 0.5)`` with ``d`` the distance to the
    nearest line of class ``k``. Distances are capped at the song length ``n`` (used when the
    other side does not occur in the song) and divided by ``n``, so values lie in ``(-1, 1)``.
    Padded lines get 0. Computed with cumulative maxima, no loop over songs or lines.

    Args:
        target: ``[B, T]`` long labels.
        mask: ``[B, T]`` bool, True for real lines.
        num_classes: C.

    Returns:
        ``[B, T, C]`` float32.
    """
    classes = torch.arange(num_classes, device=target.device).view(1, num_classes, 1)
    real = mask.unsqueeze(1)
    inside = (target.unsqueeze(1) == classes) & real  # [B, C, T]
    outside = (target.unsqueeze(1) != classes) & real
    lengths = mask.sum(dim=1).clamp_min(1).to(torch.float32).view(-1, 1, 1)
    to_inside = torch.minimum(_nearest_distance(inside), lengths)
    to_outside = torch.minimum(_nearest_distance(outside), lengths)
    signed = torch.where(inside, -(to_outside - 0.5), to_inside - 0.5) / lengths
    signed = torch.where(real, signed, torch.zeros_like(signed))
    return signed.transpose(1, 2).contiguous()


class BoundaryLoss(SegmentationLoss):
    """Boundary loss: ``mean_i mean_k (p_ik - g_ik) * phi_ik``.

    ``phi`` is :func:`signed_distance_maps` (negative inside the true region of class ``k``,
    positive outside, normalised by song length), ``p`` the softmax and ``g`` the one-hot
    target. The paper's loss is ``mean(p * phi)``; subtracting the constant ``g * phi`` leaves
    the gradient unchanged and makes the loss non-negative with 0 for a perfect prediction,
    which keeps it usable in uncertainty-weighted and difficulty-weighted compounds. It gives
    weak gradients on its own early in training, so it is mainly a :class:`CompoundLoss`
    component next to a region loss (cross-entropy, focal or Tversky).

    Args:
        num_classes: Number of classes C.
    """

    name = "boundary"

    def forward(
        self, logits: Tensor, target: Tensor, mask: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute the loss.

        Args:
            logits: ``[B, T, C]`` unnormalised scores.
            target: ``[B, T]`` long labels.
            mask: ``[B, T]`` bool, True for real lines.

        Returns:
            ``(total, {"boundary": total})``.
        """
        logits, target, mask = self._prepare(logits, target, mask)
        phi = signed_distance_maps(target, mask, self.num_classes)
        onehot = F.one_hot(target, self.num_classes).to(logits.dtype)
        per_line = ((logits.softmax(dim=-1) - onehot) * phi).mean(dim=-1)
        total = masked_mean(per_line, mask)
        return total, {"boundary": total}

    def extra_repr_items(self) -> dict[str, object]:
        """Parameters shown by :meth:`describe`."""
        return {"num_classes": self.num_classes}
