"""The per-line sequence tagger: projection, BiLSTM, optional attention, classifier."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


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
    ):
        super().__init__()
        self.projection = nn.Sequential(
            nn.LayerNorm(input_dim),
            nn.Linear(input_dim, projection_size),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.lstm = nn.LSTM(
            projection_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.attention = attention(2 * hidden_size) if attention is not None else None
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * hidden_size, num_classes)
        )

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Score every line.

        Args:
            features: ``[B, T, F]`` float.
            mask: ``[B, T]`` bool, True on real lines.

        Returns:
            Logits ``[B, T, C]`` (values at padded positions are meaningless).
        """
        width = features.shape[1]
        x = self.projection(features)
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=width)
        if self.attention is not None:
            h = self.attention(h, mask)
        return self.classifier(h)
