"""Attention over a song's lines steered by its self-similarity matrices."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def diagonal_context(
    ssm: torch.Tensor, reach: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Each SSM cell with its neighbours along the diagonal, channels last.

    Cell ``(i, j)`` of view ``v`` gives ``s_v(i + d, j + d)`` for ``d`` in
    ``-reach … reach`` (0 beyond the song's edges): whether the lines around ``i`` repeat the
    lines around ``j`` in order — a repeated block — rather than one line matching by chance.

    Args:
        ssm: ``[B, V, T, T]`` similarities, float in [0, 1] or uint8 (``similarity × 255``).
        reach: Diagonal neighbours on either side.
        mask: ``[B, T]`` bool, True on real lines: cells of padded lines read as 0, as
            beyond the song's edges (None: no padding).

    Returns:
        ``[B, T, T, V × (2 × reach + 1)]`` float.
    """
    values = ssm.float()
    if ssm.dtype == torch.uint8:
        values = values / 255.0
    if mask is not None:
        values = values * (mask[:, None, :, None] & mask[:, None, None, :]).to(values.dtype)
    width = values.shape[-1]
    padded = F.pad(values, (reach, reach, reach, reach))
    shifted = [
        padded[:, :, reach + d : reach + d + width, reach + d : reach + d + width]
        for d in range(-reach, reach + 1)
    ]
    return torch.cat(shifted, dim=1).permute(0, 2, 3, 1)


class SSMAttention(nn.Module):
    """Residual self-attention whose logits are biased by a learned function of the SSMs.

    Each head's logit for query line ``i`` and key line ``j`` is the usual scaled dot product
    plus ``g(i, j)``, a small per-cell network over the SSM views at ``(i, j)`` and their
    diagonal neighbours (:func:`diagonal_context`). A line can so attend to its repeats and
    read their context — the evidence a convolution over the SSMs gathers — at the cost of
    computing the SSMs: ``O(T²)`` cells with a few multiply-adds each, no ``[B, K, T, T]``
    stack of filter maps.

    Args:
        dim: Width of the line encodings ``D``.
        ssm_channels: Stacked SSM views ``V``.
        heads: Attention heads (must divide ``dim``).
        key_dim: Width of each head's queries and keys (the values keep ``dim / heads``):
            the SSM bias carries most of the evidence, so small keys keep the cost low.
        hidden: Width of the per-cell network.
        reach: Diagonal neighbours read on either side of a cell.
        dropout: Dropout on the block's output (not on the ``[B, H, T, T]`` weights, whose
            random mask would cost as much as the attention).
    """

    def __init__(
        self,
        dim: int,
        ssm_channels: int,
        heads: int = 4,
        key_dim: int = 8,
        hidden: int = 8,
        reach: int = 1,
        dropout: float = 0.1,
    ):
        super().__init__()
        if ssm_channels < 1:
            raise ValueError("SSMAttention reads SSMs: configure features.ssm_views")
        if dim % heads:
            raise ValueError(f"heads ({heads}) must divide dim ({dim})")
        self.heads, self.key_dim, self.reach = heads, key_dim, reach
        self.qk = nn.Linear(dim, 2 * heads * key_dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.bias = nn.Sequential(
            nn.Linear(ssm_channels * (2 * reach + 1), hidden), nn.ReLU(), nn.Linear(hidden, heads)
        )
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, ssm: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attend over the lines of each song.

        Args:
            h: ``[B, T, D]`` line encodings.
            ssm: ``[B, V, T, T]`` stacked SSMs (zero-padded).
            mask: ``[B, T]`` bool, True on real lines.

        Returns:
            ``[B, T, D]``: ``LayerNorm(h + attention(h))``.
        """
        batch, width, dim = h.shape
        cells = diagonal_context(ssm, self.reach, mask)  # [B, T, T, V(2 reach + 1)]
        bias = self.bias(cells).permute(0, 3, 1, 2)  # [B, H, T, T]
        # Padded keys are blocked; every query keeps itself so no row is empty.
        allowed = mask[:, None, None, :] | torch.eye(width, dtype=torch.bool, device=h.device)
        bias = bias.to(h.dtype).masked_fill(~allowed, torch.finfo(h.dtype).min)
        q, k = (
            part.reshape(batch, width, self.heads, self.key_dim).transpose(1, 2)
            for part in self.qk(h).chunk(2, dim=-1)
        )
        v = self.value(h).reshape(batch, width, self.heads, dim // self.heads).transpose(1, 2)
        logits = torch.matmul(q, k.transpose(-1, -2)).mul_(self.key_dim**-0.5).add_(bias)
        weights = torch.softmax(logits, dim=-1)  # [B, H, T, T]
        attended = torch.matmul(weights, v)  # [B, H, T, D / H]
        out = self.out(attended.transpose(1, 2).reshape(batch, width, dim))
        return self.norm(h + self.dropout(out))
