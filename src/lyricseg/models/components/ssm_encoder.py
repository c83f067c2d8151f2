"""A learned encoder over a song's stacked self-similarity matrices."""

from __future__ import annotations

import torch
from torch import nn


class SSMEncoder(nn.Module):
    """Convolutions over the stacked SSMs, reduced to one vector per line.

    Each line is described by its SSM rows and their neighbours (the convolution's window
    over rows) across *all* columns, so a repeated block anywhere in the song shows up as a
    diagonal stripe the filters can detect; a masked max and mean over the columns then
    give a fixed-size vector per line.

    Args:
        in_channels: Number of stacked SSM views ``V``.
        channels: Convolution filters ``K``.
        layers: Stacked 3×3 convolutions (each widens the row window by 2 lines).
        dropout: Dropout on the output.
    """

    def __init__(self, in_channels: int, channels: int = 16, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_channels
        for _ in range(layers):
            blocks += [nn.Conv2d(width, channels, kernel_size=3, padding=1), nn.GELU()]
            width = channels
        self.convs = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = 2 * channels

    def forward(self, ssm: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encode each line.

        Args:
            ssm: ``[B, V, T, T]`` float similarities in [0, 1] (zero-padded).
            mask: ``[B, T]`` bool, True on real lines.

        Returns:
            ``[B, T, 2K]``: masked max and mean over columns of the convolved maps.
        """
        cols = mask[:, None, None, :]  # valid columns
        cells = (mask[:, None, :, None] & cols).to(ssm.dtype)  # [B, 1, T, T]
        maps = ssm
        for layer in self.convs:
            # Re-zero the padding after every layer so it acts like the convolution's own
            # zero padding and a song's encoding does not depend on its batch.
            maps = layer(maps) * cells if isinstance(layer, nn.Conv2d) else layer(maps)
        neg = torch.finfo(maps.dtype).min
        peak = maps.masked_fill(~cols, neg).amax(dim=-1)  # [B, K, T]
        count = mask.sum(dim=1).clamp(min=1)[:, None, None].to(maps.dtype)
        mean = maps.masked_fill(~cols, 0.0).sum(dim=-1) / count
        out = torch.cat([peak, mean], dim=1).transpose(1, 2)  # [B, T, 2K]
        return self.dropout(out)
