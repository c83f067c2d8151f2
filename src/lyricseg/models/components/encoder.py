"""The per-line sequence tagger: projection, BiLSTM, optional attention, classifier."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lyricseg.data.conventions import DEFAULT_CONVENTION

#: Stanza-break values per line: a blank line stood before it; breaks are known.
BREAK_INPUTS = 2


class TaggerNet(nn.Module):
    """BiLSTM tagger over per-line feature vectors.

    Args:
        input_dim: Features per line ``F``.
        hidden_size: LSTM hidden size per direction.
        num_layers: Stacked LSTM layers.
        dropout: Dropout after the projection, between LSTM layers and before the classifier.
        attention: Optional factory ``dim -> nn.Module`` for a residual attention block over
            the BiLSTM outputs (e.g. a partial of
            :class:`~lyricseg.models.components.attention.LineSelfAttention`).
        projection_size: Width of the input projection.
        num_classes: Output classes ``C``.
        ssm_encoder: Optional factory ``in_channels -> SSMEncoder`` whose per-line output is
            concatenated to the projected features; needs ``ssm_channels``.
        ssm_channels: Number of stacked SSM views fed to ``ssm_encoder``.
        sections: Add the section heads: a section-class head (one logit per class of
            ``section_classes``) and a section-start head.
        section_classes: Names of the section head's classes, in output order; required
            with ``sections`` (training fills it from the section map, as it fills
            ``input_dim``; a checkpoint stores it).
        breaks: Read the stanza-break input (two values per line, see
            :func:`lyricseg.data.batching.break_flags`) beside the features.
        ssm_attention: Optional factory ``(dim, ssm_channels) -> nn.Module`` for a residual
            attention block over the BiLSTM outputs steered by the SSMs (e.g. a partial of
            :class:`~lyricseg.models.components.ssm_attention.SSMAttention`); needs
            ``ssm_channels``.
        conventions: Names of the verse/chorus conventions, one label head each (the first
            is the default); training fills it from the corpora (see
            :mod:`lyricseg.data.conventions`), a checkpoint stores it. None: one convention,
            :data:`~lyricseg.data.conventions.DEFAULT_CONVENTION`.

    The conventions share everything but the last linear map: ``classifier`` holds ``K``
    heads of ``C`` logits side by side (``[K * C]`` outputs; with one convention exactly the
    single head of older models), and each song reads, and trains, only its own.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.3,
        attention: Callable[[int], nn.Module] | None = None,
        projection_size: int = 128,
        num_classes: int = 2,
        ssm_encoder: Callable[[int], nn.Module] | None = None,
        ssm_channels: int = 0,
        sections: bool = False,
        section_classes: Sequence[str] | None = None,
        breaks: bool = False,
        conventions: Sequence[str] | None = None,
        ssm_attention: Callable[[int, int], nn.Module] | None = None,
    ):
        super().__init__()
        #: The verse/chorus conventions, one label head each, the default first.
        self.conventions = tuple(conventions) if conventions else (DEFAULT_CONVENTION,)
        self.num_classes = num_classes
        if sections and not section_classes:
            raise ValueError("sections=True needs section_classes, the section head's classes")
        #: The section head's class names in output order, or None without section heads.
        self.section_classes = tuple(section_classes) if sections else None
        self.breaks = breaks
        self.ssm_encoder = ssm_encoder(ssm_channels) if ssm_encoder is not None else None
        ssm_dim = self.ssm_encoder.out_dim if self.ssm_encoder is not None else 0
        width = input_dim + (BREAK_INPUTS if breaks else 0)
        self.projection = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, projection_size),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.lstm = nn.LSTM(
            projection_size + ssm_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.attention = attention(2 * hidden_size) if attention is not None else None
        self.ssm_attention = (
            ssm_attention(2 * hidden_size, ssm_channels) if ssm_attention is not None else None
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * hidden_size, len(self.conventions) * num_classes)
        )
        self.section_head = self.start_head = None
        if self.section_classes is not None:
            self.section_head = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(2 * hidden_size, len(self.section_classes))
            )
            self.start_head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden_size, 1))

    @property
    def has_sections(self) -> bool:
        """Whether the net predicts section classes and starts."""
        return self.section_head is not None

    def forward(
        self,
        features: torch.Tensor,
        mask: torch.Tensor,
        ssm: torch.Tensor | None = None,
        breaks: torch.Tensor | None = None,
        convention: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """Verse/chorus logits ``[B, T, C]`` (see :meth:`forward_heads` for every head)."""
        h = self.encode(features, mask, ssm, breaks)
        return self.label_logits(h, self.convention_ids(convention, h.shape[0], h.device))

    def convention_ids(
        self, convention: torch.Tensor | int | None, batch: int, device: torch.device
    ) -> torch.Tensor:
        """Each song's convention id ``[B]`` long: given per song, one for all, or the default.

        Raises:
            ValueError: For an id that is not one of :attr:`conventions`.
        """
        if convention is None:
            convention = 0
        ids = torch.as_tensor(convention, dtype=torch.long, device=device).expand(batch).clone()
        if bool(((ids < 0) | (ids >= len(self.conventions))).any()):
            raise ValueError(f"convention ids {ids.tolist()} outside {self.conventions}")
        return ids

    def label_logits(self, h: torch.Tensor, convention: torch.Tensor) -> torch.Tensor:
        """Each song's own convention's verse/chorus logits ``[B, T, C]``.

        Args:
            h: Line states ``[B, T, H]`` (see :meth:`encode`).
            convention: ``[B]`` long convention ids.
        """
        logits = self.classifier(h)
        if len(self.conventions) == 1:
            return logits
        batch, width, _ = logits.shape
        heads = logits.view(batch, width, len(self.conventions), self.num_classes)
        index = convention.view(batch, 1, 1, 1).expand(batch, width, 1, self.num_classes)
        # A gather: the other conventions' logits (and their weights) get no gradient.
        return heads.gather(2, index).squeeze(2)

    def forward_heads(
        self,
        features: torch.Tensor,
        mask: torch.Tensor,
        ssm: torch.Tensor | None = None,
        breaks: torch.Tensor | None = None,
        convention: torch.Tensor | int | None = None,
    ) -> dict[str, torch.Tensor]:
        """Logits of every head.

        Args:
            features: ``[B, T, F]`` float (see :meth:`encode` for it and the next three).
            mask: ``[B, T]`` bool.
            ssm: Stacked SSMs or None.
            breaks: Stanza-break input or None.
            convention: The verse/chorus convention of each song (``[B]`` long ids), one id
                for all, or None for the default (the first of :attr:`conventions`).

        Returns:
            ``label`` ``[B, T, C]`` (each song's convention's head), ``convention`` ``[B]``
            long (which one); with section heads also ``section`` ``[B, T, S]`` and
            ``start`` ``[B, T]`` (logit that a line starts a new section).
        """
        h = self.encode(features, mask, ssm, breaks)
        ids = self.convention_ids(convention, h.shape[0], h.device)
        out = {"label": self.label_logits(h, ids), "convention": ids}
        if self.section_head is not None:
            out["section"] = self.section_head(h)
            out["start"] = self.start_head(h).squeeze(-1)
        return out

    def encode(
        self,
        features: torch.Tensor,
        mask: torch.Tensor,
        ssm: torch.Tensor | None = None,
        breaks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Contextual line states.

        Args:
            features: ``[B, T, F]`` float.
            mask: ``[B, T]`` bool, True on real lines.
            ssm: ``[B, V, T, T]`` stacked SSMs, required when the net has an SSM encoder or
                SSM attention.
            breaks: ``[B, T, 2]`` stanza-break input, read when the net was built with
                ``breaks=True`` (None: breaks unknown).

        Returns:
            ``[B, T, 2 * hidden_size]`` (values at padded positions are meaningless).
        """
        width = features.shape[1]
        if self.breaks:
            if breaks is None:
                breaks = features.new_zeros(*features.shape[:2], BREAK_INPUTS)
            features = torch.cat([features, breaks.to(features.dtype)], dim=-1)
        x = self.projection(features)
        if self.ssm_encoder is not None:
            if ssm is None:
                raise ValueError("this model reads SSMs: configure features.ssm_views")
            x = torch.cat([x, self.ssm_encoder(ssm, mask).to(x.dtype)], dim=-1)
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=width)
        if self.attention is not None:
            h = self.attention(h, mask)
        if self.ssm_attention is not None:
            if ssm is None:
                raise ValueError("this model reads SSMs: configure features.ssm_views")
            h = self.ssm_attention(h, ssm, mask)
        return h
