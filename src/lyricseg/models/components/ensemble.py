"""Several trained networks as one: probabilities averaged head by head."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


class EnsembleNet(nn.Module):
    """Average the heads of networks trained on the same features (seeds, folds, recipes).

    Each head is averaged as a probability and returned as log-probabilities, so a decoder
    reads the ensemble like one network: ``label`` and ``section`` are
    ``log(mean_k softmax(logits_k))``, ``start`` is the logit of ``mean_k sigmoid(start_k)``.
    Section heads are averaged only when every member has them, over the same
    ``section_classes`` (members with other class lists are refused). ``probs`` is the mean
    of the members' calibrated P(chorus) (each member's own calibrator, softmax where it has
    none).

    Args:
        members: The networks (``forward_heads`` as :class:`TaggerNet`'s).
        calibrators: One per member: logits ``[..., C]`` -> P(chorus) ``[...]``, or None.
    """

    def __init__(
        self,
        members: Sequence[nn.Module],
        calibrators: Sequence[Callable[[torch.Tensor], torch.Tensor] | None],
    ) -> None:
        super().__init__()
        if not members or len(members) != len(calibrators):
            raise ValueError(f"{len(members)} members and {len(calibrators)} calibrators")
        self.members = nn.ModuleList(members)
        self.calibrators = list(calibrators)
        lists = {getattr(m, "section_classes", None) for m in members}
        if len(lists - {None}) > 1:
            raise ValueError(f"the members name other section classes: {sorted(lists - {None})}")
        #: The members' common section classes, or None unless every member has section heads.
        self.section_classes = lists.pop() if len(lists) == 1 else None
        conventions = {getattr(m, "conventions", None) for m in members}
        if len(conventions) > 1:
            raise ValueError(f"the members have other conventions: {sorted(map(str, conventions))}")
        #: The members' common verse/chorus conventions.
        self.conventions = conventions.pop()

    def forward_heads(
        self,
        features: torch.Tensor,
        mask: torch.Tensor,
        ssm: torch.Tensor | None = None,
        breaks: torch.Tensor | None = None,
        convention: torch.Tensor | int | None = None,
    ) -> dict[str, torch.Tensor]:
        """Averaged heads (each member's head of the songs' ``convention``).

        Returns:
            ``label`` ``[B, T, C]``, ``convention`` ``[B]`` and ``probs`` ``[B, T]``; when
            every member has section heads also ``section`` ``[B, T, S]`` and ``start``
            ``[B, T]``.
        """
        outs = [m.forward_heads(features, mask, ssm, breaks, convention) for m in self.members]
        log_k = math.log(len(outs))

        def mean_log_softmax(key: str) -> torch.Tensor:
            stacked = torch.stack([o[key].float().log_softmax(-1) for o in outs])
            return torch.logsumexp(stacked, dim=0) - log_k

        probs = [
            cal(o["label"].float()) if cal is not None else o["label"].float().softmax(-1)[..., 1]
            for o, cal in zip(outs, self.calibrators, strict=True)
        ]
        heads = {"label": mean_log_softmax("label"), "probs": torch.stack(probs).mean(0)}
        if "convention" in outs[0]:
            heads["convention"] = outs[0]["convention"]
        if all("section" in o for o in outs):
            heads["section"] = mean_log_softmax("section")
            start = torch.stack([o["start"].float().sigmoid() for o in outs]).mean(0)
            heads["start"] = torch.logit(start, eps=1e-6)
        return heads
