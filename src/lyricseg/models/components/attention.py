"""Self-attention over the lines of a song, global or restricted to a local window."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Sinusoidal position encodings, ``[length, dim]``."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    enc = torch.zeros(length, dim, device=device)
    enc[:, 0::2] = torch.sin(position * freq)
    enc[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return enc


class LineSelfAttention(nn.Module):
    """Residual multi-head self-attention block over line encodings.

    Args:
        dim: Width of the line encodings ``D``.
        heads: Attention heads (must divide ``dim``).
        window: Attend only to lines at most this far away; None attends to the whole song.
        dropout: Attention and residual dropout.
        positional_encoding: Add sinusoidal positions to queries and keys.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 4,
        window: int | None = None,
        dropout: float = 0.1,
        positional_encoding: bool = True,
    ):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.heads = heads
        self.window = window
        self.positional_encoding = positional_encoding

    def _allowed(self, mask: torch.Tensor) -> torch.Tensor:
        """Boolean ``[B, T, T]``: which keys each query may attend to."""
        width = mask.shape[1]
        allowed = mask[:, None, :].expand(-1, width, -1)
        if self.window is not None:
            idx = torch.arange(width, device=mask.device)
            near = (idx[:, None] - idx[None, :]).abs() <= self.window
            allowed = allowed & near
        # Every query keeps itself, so no row is empty (padded rows would otherwise be NaN).
        return allowed | torch.eye(width, dtype=torch.bool, device=mask.device)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attend over the lines of each song.

        Args:
            h: ``[B, T, D]`` line encodings.
            mask: ``[B, T]`` bool, True on real lines.

        Returns:
            ``[B, T, D]``: ``LayerNorm(h + attention(h))``.
        """
        qk = h
        if self.positional_encoding:
            qk = h + sinusoidal_positions(h.shape[1], h.shape[2], h.device).to(h.dtype)
        blocked = ~self._allowed(mask).repeat_interleave(self.heads, dim=0)
        out, _ = self.attn(qk, qk, h, attn_mask=blocked, need_weights=False)
        return self.norm(h + self.dropout(out))
