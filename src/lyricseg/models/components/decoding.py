"""Decoders: from per-line head outputs to a label sequence (and sections, when predicted).

Every decoder is called as ``decoder(logits, mask) -> labels`` on the verse/chorus logits, and
as ``decoder.decode(heads, mask) -> dict`` on all of a net's heads (see
:meth:`~lyricseg.models.components.TaggerNet.forward_heads`); only :class:`JointDecoder` reads
the section heads.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Decoder(nn.Module):
    """Base: decodes the verse/chorus head; subclasses implement ``forward``."""

    def decode(self, heads: dict[str, torch.Tensor], mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"labels": [B, T] long}`` from ``heads["label"]`` ``[B, T, C]``."""
        return {"labels": self(heads["label"], mask)}


class ArgmaxDecoder(Decoder):
    """Each line gets its most likely class."""

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Decode ``logits [B, T, C]`` (``mask [B, T]``) into labels ``[B, T]`` long."""
        return logits.argmax(dim=-1)


class ViterbiDecoder(Decoder):
    """Most likely label sequence under a constant penalty for every label change.

    Maximizes ``sum_t log p_t(y_t) - switch_penalty * #{t : y_t != y_{t-1}}`` per song,
    which removes one-line islands without merging real sections when the penalty is small.

    Args:
        switch_penalty: Cost of a label change in nats; 0 reduces to argmax.
    """

    def __init__(self, switch_penalty: float = 1.0):
        super().__init__()
        self.switch_penalty = switch_penalty

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Decode ``logits [B, T, C]`` (``mask [B, T]``) into labels ``[B, T]`` long."""
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        batch, width, classes = log_probs.shape
        transition = torch.full((classes, classes), -self.switch_penalty, device=logits.device)
        transition.fill_diagonal_(0.0)
        score = log_probs[:, 0]
        back = torch.zeros(batch, width, classes, dtype=torch.long, device=logits.device)
        for t in range(1, width):
            # cand[b, prev, cur]
            cand = score[:, :, None] + transition[None]
            best, arg = cand.max(dim=1)
            new = best + log_probs[:, t]
            live = mask[:, t, None]
            score = torch.where(live, new, score)
            back[:, t] = torch.where(live, arg, torch.arange(classes, device=logits.device))
        labels = torch.zeros(batch, width, dtype=torch.long, device=logits.device)
        labels[:, -1] = score.argmax(dim=-1)
        for t in range(width - 1, 0, -1):
            labels[:, t - 1] = back[:, t].gather(1, labels[:, t, None]).squeeze(1)
        return labels


class JointDecoder(Decoder):
    """Labels, section classes and section starts decoded together, so they never disagree.

    Per song, over section classes ``c_t``, labels ``y_t`` and start flags ``b_t`` (line 0
    always starts, and a line whose class or label differs from the previous line's starts a
    section: a section has one class and one label), maximizes::

        sum_t [ log p_t(c_t) + label_weight * log q_t(y_t) + log P_k(y_t | c_t) ]
          + sum_{t>0} [ b_t * (log s_t - switch_penalty) + (1 - b_t) * log(1 - s_t) ]

    where ``p_t`` is the section-class softmax, ``q_t`` the verse/chorus softmax of the song's
    convention ``k`` (``heads["convention"]``), ``s_t`` the start probability and ``P_k(y | c)``
    that convention's label-given-class table, counted on its training songs: labels come
    from the convention's own head, and the table keeps them consistent with the sections as
    that convention's corpus was. A convention whose corpus has no sections has a flat table
    (its labels and classes only share their borders); a table of 0s and 1s makes the label a
    function of the class (how format-3 models decoded: 1 exactly on chorus and post-chorus).
    A net without section heads falls back to Viterbi over the verse/chorus head with the
    same penalty.

    Args:
        switch_penalty: Extra cost, in nats, of starting a section.
        label_weight: Weight of the verse/chorus head's evidence.
        label_given_class: ``[K][S][2]`` probabilities ``P_k(y | c)`` for the net's ``K``
            conventions and ``S`` section classes; training fills it from the training songs
            (:meth:`~lyricseg.data.LyricsDataModule.label_given_class`). Needed to decode
            section heads; a net without them decodes with the Viterbi fallback.
    """

    def __init__(
        self,
        switch_penalty: float = 1.0,
        label_weight: float = 1.0,
        label_given_class: Sequence[Sequence[Sequence[float]]] | None = None,
    ):
        super().__init__()
        self.switch_penalty = switch_penalty
        self.label_weight = label_weight
        self.label_given_class = (
            None if label_given_class is None else torch.tensor(label_given_class).double()
        )
        self.fallback = ViterbiDecoder(switch_penalty)

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Labels ``[B, T]`` from verse/chorus logits alone (Viterbi fallback)."""
        return self.fallback(logits, mask)

    def decode(self, heads: dict[str, torch.Tensor], mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decode every head.

        Args:
            heads: ``label`` ``[B, T, 2]``, ``section`` ``[B, T, S]``, ``start`` ``[B, T]``
                and optionally ``convention`` ``[B]`` long (default: the first).
            mask: ``[B, T]`` bool.

        Returns:
            ``labels``, ``classes`` and ``starts`` (0/1), each ``[B, T]`` long.
        """
        if "section" not in heads:
            return super().decode(heads, mask)
        if self.label_given_class is None:
            raise ValueError("JointDecoder needs label_given_class to decode section heads")
        section = torch.log_softmax(heads["section"].float(), dim=-1)
        label = torch.log_softmax(heads["label"].float(), dim=-1)
        start = heads["start"].float()
        log_start = torch.nn.functional.logsigmoid(start) - self.switch_penalty
        log_stay = torch.nn.functional.logsigmoid(-start)
        batch, width, classes = section.shape
        convention = heads.get("convention")
        if convention is None:
            convention = torch.zeros(batch, dtype=torch.long, device=section.device)
        table = self.label_given_class.log().float().to(section.device)[convention]  # [B, S, 2]
        # States are (class, label) pairs, flattened as class * 2 + label.
        emit = (
            section[..., :, None] + self.label_weight * label[..., None, :] + table[:, None]
        ).flatten(2)  # [B, T, 2S]
        states = emit.shape[-1]
        score = emit[:, 0]
        back_state = torch.zeros(batch, width, states, dtype=torch.long, device=section.device)
        back_start = torch.ones(batch, width, states, dtype=torch.bool, device=section.device)
        keep = torch.arange(states, device=section.device).expand(batch, states)
        for t in range(1, width):
            stay = score + log_stay[:, t, None]
            best_prev, arg_prev = score.max(dim=1)
            new = (best_prev + log_start[:, t])[:, None].expand(-1, states)
            starts = new > stay
            live = mask[:, t, None]
            score = torch.where(live, torch.where(starts, new, stay) + emit[:, t], score)
            back_state[:, t] = torch.where(
                live & starts, arg_prev[:, None].expand(-1, states), keep
            )
            back_start[:, t] = starts & live
        states_out = torch.zeros(batch, width, dtype=torch.long, device=section.device)
        starts_out = torch.zeros(batch, width, dtype=torch.long, device=section.device)
        current = score.argmax(dim=-1)
        for t in range(width - 1, -1, -1):
            states_out[:, t] = current
            starts_out[:, t] = back_start[:, t].gather(1, current[:, None]).squeeze(1).long()
            current = back_state[:, t].gather(1, current[:, None]).squeeze(1)
        starts_out[:, 0] = 1
        live = mask.long()
        return {
            "labels": (states_out % 2) * live,
            "classes": (states_out // 2) * live,
            "starts": starts_out * live,
        }


def section_predictions(
    heads: dict[str, torch.Tensor], decoded: dict[str, torch.Tensor], mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Section classes and start flags ``[B, T]``: the decoder's, else read off the heads.

    Without a joint decoder, a line's class is the argmax of its section head and a line
    starts a section when its start probability passes 0.5 or its class changes.
    """
    if "classes" in decoded:
        return decoded["classes"], decoded["starts"]
    classes = heads["section"].argmax(dim=-1)
    starts = heads["start"] > 0
    starts[:, 1:] |= classes[:, 1:] != classes[:, :-1]
    starts[:, 0] = True
    return classes * mask, (starts & mask).long()
