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


def segment_decode(
    emit: torch.Tensor,
    start_score: torch.Tensor,
    stay_score: torch.Tensor,
    mask: torch.Tensor,
    restart_same: bool,
    min_section_lines: int = 1,
    short_section_penalty: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best class and section-start sequences, with an optional section-length prior.

    Per song, over classes ``c_t`` and start flags ``b_t`` (``b_0 = 1``; a class change is a
    start), maximizes::

        sum_t emit_t(c_t) + sum_{t>0} [ b_t * start_t + (1 - b_t) * stay_t ]
          - short_section_penalty * #{sections shorter than min_section_lines lines}

    by Viterbi over (class, lines so far in the section, capped at ``min_section_lines``).

    Args:
        emit: Per-line class scores ``[B, T, S]``.
        start_score: Score of a section starting at line t ``[B, T]`` (line 0 ignored).
        stay_score: Score of line t continuing its section ``[B, T]``.
        mask: ``[B, T]`` bool; padded lines change nothing.
        restart_same: Whether a section may start with its predecessor's class; if not, a
            start is exactly a class change.
        min_section_lines: Sections shorter than this pay the penalty (1: no prior).
        short_section_penalty: Cost in nats of each short section, the last one included.

    Returns:
        ``(classes, starts)``, each ``[B, T]`` long (padding repeats the last line's class).
    """
    batch, width, classes = emit.shape
    durations = max(int(min_section_lines), 1)  # index k: k+1 lines; the last: >= that
    device = emit.device
    neg = torch.tensor(-torch.inf, device=device)
    short = torch.zeros(durations, device=device)
    short[: durations - 1] = short_section_penalty
    class_ids = torch.arange(classes, device=device)
    same_class = class_ids[None, :, None].expand(batch, classes, durations)
    same_duration = torch.arange(durations, device=device).expand(batch, classes, durations)
    score = torch.full((batch, classes, durations), -torch.inf, device=device)
    score[:, :, 0] = emit[:, 0]
    back_class = same_class[:, None].repeat(1, width, 1, 1)  # [B, T, S, D]
    back_duration = same_duration[:, None].repeat(1, width, 1, 1)
    back_start = torch.zeros(batch, width, classes, durations, dtype=torch.bool, device=device)
    for t in range(1, width):
        # A section that ended at t-1: its best duration per class, then the best class.
        ended, ended_duration = (score - short).max(dim=-1)  # [B, S]
        if restart_same:
            best, arg = ended.max(dim=1)
            start_value, start_class = best[:, None].expand(-1, classes), arg[:, None]
            start_class = start_class.expand(-1, classes)
        else:  # cand[b, prev, cur], prev != cur
            cand = ended[:, :, None].expand(-1, -1, classes)
            cand = torch.where(torch.eye(classes, dtype=torch.bool, device=device), neg, cand)
            start_value, start_class = cand.max(dim=1)
        start_duration = ended_duration.gather(1, start_class)
        start_value = start_value + start_score[:, t, None]
        # Staying: one line longer, capped at the last duration index.
        if durations == 1:
            stay, stay_duration = score, same_duration
        else:
            capped, which = score[:, :, durations - 2 :].max(dim=-1)
            stay = torch.cat([torch.full_like(score[:, :, :1], -torch.inf), score[:, :, :-1]], -1)
            stay[:, :, -1] = capped
            stay_duration = (same_duration - 1).clamp(min=0)
            stay_duration[:, :, -1] = durations - 2 + which
        stay = stay + stay_score[:, t, None, None]
        starts = torch.zeros_like(back_start[:, 0])
        starts[:, :, 0] = start_value > stay[:, :, 0]  # ties stay
        new = stay.clone()
        new[:, :, 0] = torch.where(starts[:, :, 0], start_value, stay[:, :, 0])
        new_class = same_class.clone()
        new_class[:, :, 0] = torch.where(starts[:, :, 0], start_class, class_ids)
        new_duration = stay_duration.clone()
        new_duration[:, :, 0] = torch.where(starts[:, :, 0], start_duration, stay_duration[..., 0])
        live = mask[:, t, None, None]
        score = torch.where(live, new + emit[:, t, :, None], score)
        back_class[:, t] = torch.where(live, new_class, same_class)
        back_duration[:, t] = torch.where(live, new_duration, same_duration)
        back_start[:, t] = starts & live
    best = (score - short).flatten(1).argmax(dim=-1)
    current, duration = best // durations, best % durations
    classes_out = torch.zeros(batch, width, dtype=torch.long, device=device)
    starts_out = torch.zeros(batch, width, dtype=torch.long, device=device)
    rows = torch.arange(batch, device=device)
    for t in range(width - 1, -1, -1):
        classes_out[:, t] = current
        starts_out[:, t] = back_start[rows, t, current, duration].long()
        current, duration = (
            back_class[rows, t, current, duration],
            back_duration[rows, t, current, duration],
        )
    starts_out[:, 0] = 1
    return classes_out, starts_out


class ViterbiDecoder(Decoder):
    """Most likely label sequence under a constant penalty for every label change.

    Maximizes ``sum_t log p_t(y_t) - switch_penalty * #{t : y_t != y_{t-1}}`` per song,
    which removes one-line islands without merging real sections when the penalty is small;
    optionally minus ``short_section_penalty`` for every run of one label shorter than
    ``min_section_lines`` lines (see :func:`segment_decode`).

    Args:
        switch_penalty: Cost of a label change in nats; 0 reduces to argmax.
        min_section_lines: Runs shorter than this pay ``short_section_penalty`` (1: off).
        short_section_penalty: Cost in nats of each short run.
    """

    def __init__(
        self,
        switch_penalty: float = 1.0,
        min_section_lines: int = 1,
        short_section_penalty: float = 0.0,
    ):
        super().__init__()
        self.switch_penalty = switch_penalty
        self.min_section_lines = min_section_lines
        self.short_section_penalty = short_section_penalty

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Decode ``logits [B, T, C]`` (``mask [B, T]``) into labels ``[B, T]`` long."""
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        scores = torch.zeros(log_probs.shape[:2], device=logits.device)
        labels, _ = segment_decode(
            log_probs,
            scores - self.switch_penalty,
            scores,
            mask,
            restart_same=False,
            min_section_lines=self.min_section_lines,
            short_section_penalty=self.short_section_penalty,
        )
        return labels


class JointDecoder(Decoder):
    """Labels, section classes and section starts decoded together, so they never disagree.

    Per song, over section classes ``c_t``, labels ``y_t`` and start flags ``b_t`` (line 0
    always starts, and a line whose class or label differs from the previous line's starts a
    section: a section has one class and one label), maximizes::

        sum_t [ log p_t(c_t) + label_weight * log q_t(y_t) + log P_k(y_t | c_t) ]
          + sum_{t>0} [ b_t * (log s_t - switch_penalty) + (1 - b_t) * log(1 - s_t) ]
          - short_section_penalty * #{sections shorter than min_section_lines lines}

    where ``p_t`` is the section-class softmax, ``q_t`` the verse/chorus softmax of the song's
    convention ``k`` (``heads["convention"]``), ``s_t`` the start probability and ``P_k(y | c)``
    that convention's label-given-class table, counted on its training songs: labels come
    from the convention's own head, and the table keeps them consistent with the sections as
    that convention's corpus was. A convention whose corpus has no sections has a flat table
    (its labels and classes only share their borders); a table of 0s and 1s makes the label a
    function of the class (how format-3 models decoded: 1 exactly on chorus and post-chorus).
    A net without section heads falls back to Viterbi over the verse/chorus head with the
    same penalties.

    Args:
        switch_penalty: Extra cost, in nats, of starting a section.
        label_weight: Weight of the verse/chorus head's evidence.
        label_given_class: ``[K][S][2]`` probabilities ``P_k(y | c)`` for the net's ``K``
            conventions and ``S`` section classes; training fills it from the training songs
            (:meth:`~lyricseg.training.datamodule.LyricsDataModule.label_given_class`).
            Needed to decode section heads; a net without them decodes with the Viterbi
            fallback.
        min_section_lines: Sections shorter than this pay ``short_section_penalty`` (1: off).
        short_section_penalty: Cost in nats of each short section (the last one included).
    """

    def __init__(
        self,
        switch_penalty: float = 1.0,
        label_weight: float = 1.0,
        label_given_class: Sequence[Sequence[Sequence[float]]] | None = None,
        min_section_lines: int = 1,
        short_section_penalty: float = 0.0,
    ):
        super().__init__()
        self.switch_penalty = switch_penalty
        self.label_weight = label_weight
        self.label_given_class = (
            None if label_given_class is None else torch.tensor(label_given_class).double()
        )
        self.min_section_lines = min_section_lines
        self.short_section_penalty = short_section_penalty
        self.fallback = ViterbiDecoder(switch_penalty, min_section_lines, short_section_penalty)

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
        batch = section.shape[0]
        convention = heads.get("convention")
        if convention is None:
            convention = torch.zeros(batch, dtype=torch.long, device=section.device)
        table = self.label_given_class.log().float().to(section.device)[convention]  # [B, S, 2]
        # States are (class, label) pairs, flattened as class * 2 + label; a change of either
        # starts a section.
        emit = (
            section[..., :, None] + self.label_weight * label[..., None, :] + table[:, None]
        ).flatten(2)  # [B, T, 2S]
        states_out, starts_out = segment_decode(
            emit,
            torch.nn.functional.logsigmoid(start) - self.switch_penalty,
            torch.nn.functional.logsigmoid(-start),
            mask,
            restart_same=True,
            min_section_lines=self.min_section_lines,
            short_section_penalty=self.short_section_penalty,
        )
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
