"""A learned encoder over a song's stacked self-similarity matrices."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

try:  # oneDNN convolution with a fused activation (what torch.compile uses on CPU)
    _CONV_POINTWISE = torch.ops.mkldnn._convolution_pointwise
except (AttributeError, RuntimeError):  # a build without oneDNN
    _CONV_POINTWISE = None


class SSMEncoder(nn.Module):
    """Convolutions over the stacked SSMs, reduced to one vector per line.

    Each line is described by its SSM rows and their neighbours (the convolution's window
    over rows) across *all* columns, so a repeated block anywhere in the song shows up as a
    diagonal stripe the filters can detect; a masked max and mean over the columns then
    give a fixed-size vector per line.

    Rows are encoded in bands (each with the ``layers`` rows of context on either side that
    the stacked 3×3 windows read), so no ``[B, K, T, T]`` activation ever exists at once:
    memory stays ``O(T)`` per band however long the song, with the same result as encoding
    all rows together.

    Args:
        in_channels: Number of stacked SSM views ``V``.
        channels: Convolution filters ``K``.
        layers: Stacked 3×3 convolutions (each widens the row window by 2 lines).
        dropout: Dropout on the output.
        band_cells: Activation cells (``B × K × rows × T``) a band may hold; a batch of
            short songs fits in one band.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = 16,
        layers: int = 2,
        dropout: float = 0.1,
        band_cells: int = 1 << 22,
    ):
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_channels
        for _ in range(layers):
            blocks += [nn.Conv2d(width, channels, kernel_size=3, padding=1), nn.GELU()]
            width = channels
        self.convs = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = 2 * channels
        self.layers = layers
        self.band_cells = band_cells

    def forward(self, ssm: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encode each line.

        Args:
            ssm: ``[B, V, T, T]`` similarities: float in [0, 1], or uint8 holding
                ``round(similarity × 255)`` (converted band by band); zero-padded.
            mask: ``[B, T]`` bool, True on real lines.

        Returns:
            ``[B, T, 2K]``: masked max and mean over columns of the convolved maps (0 on
            padded lines).
        """
        batch, _, width, _ = ssm.shape
        # Without padding (one song, or songs of one length) only the song's edges need
        # masking; otherwise padded cells are zeroed by multiplying after every layer.
        full = bool(mask.all())
        channels = self.out_dim // 2
        rows = max(1, self.band_cells // max(1, batch * channels * width) - 2 * self.layers)
        bands = [
            self._band(ssm, mask, full, r0, min(width, r0 + rows)) for r0 in range(0, width, rows)
        ]
        out = torch.cat(bands, dim=1)  # [B, T, 2K]
        if not full:
            out = out * mask[:, :, None].to(out.dtype)
        return self.dropout(out)

    def _band(
        self, ssm: torch.Tensor, mask: torch.Tensor, full: bool, start: int, stop: int
    ) -> torch.Tensor:
        """Encode rows ``start:stop`` (see :meth:`forward`): ``[B, stop - start, 2K]``.

        Args:
            ssm: The whole ``[B, V, T, T]`` input.
            mask: ``[B, T]`` bool.
            full: Whether ``mask`` is all True.
            start: First row.
            stop: Row after the last.
        """
        width, halo = ssm.shape[-1], self.layers
        lo, hi = max(0, start - halo), min(width, stop + halo)
        # Rows beyond the song's edges: zeros, as the unbanded convolution's zero padding.
        maps = F.pad(ssm[:, :, lo:hi], (0, 0, lo - (start - halo), (stop + halo) - hi))
        # Convolutions run fastest on channels-last maps; elementwise steps and reductions
        # run on contiguous memory.
        maps = maps.to(self.convs[0].weight.dtype, memory_format=torch.channels_last)
        if ssm.dtype == torch.uint8:
            maps.div_(255.0)
        first = start - halo  # song row of the band's first row
        blocks = list(self.convs)
        for conv, act in zip(blocks[::2], blocks[1::2], strict=True):
            maps = self._conv_act(maps, conv, act)
            first += 1
            if conv is blocks[-2]:
                break
            # Re-zero what lies outside the songs after every layer, so that it acts like the
            # convolution's own zero padding and a song's encoding does not depend on its
            # batch (the last layer's padded columns are left out of the reduction instead).
            # Zeroing after the activation is the same as before it: GELU(0) = 0.
            if full:
                maps[:, :, : max(0, -first)] = 0.0  # above the first line
                maps[:, :, max(0, width - first) :] = 0.0  # below the last line
            else:
                rows = maps.shape[2]
                index = torch.arange(first, first + rows, device=mask.device)
                inside = (index >= 0) & (index < width)
                row_ok = torch.zeros(mask.shape[0], rows, dtype=torch.bool, device=mask.device)
                row_ok[:, inside] = mask[:, index[inside]]
                maps = maps * (row_ok[:, None, :, None] & mask[:, None, None, :]).to(maps.dtype)
        maps = maps.permute(0, 2, 3, 1)  # [B, rows, T, K], contiguous in channels-last memory
        if not full:  # padded columns: out of the max and the sum
            cols = mask[:, None, :, None]
            peak = maps.masked_fill(~cols, torch.finfo(maps.dtype).min).max(dim=2).values
            total = maps.masked_fill(~cols, 0.0).sum(dim=2)
        else:
            peak, total = maps.max(dim=2).values, maps.sum(dim=2)
        mean = total / mask.sum(dim=1).clamp(min=1)[:, None, None].to(maps.dtype)
        return torch.cat([peak, mean], dim=2)  # [B, rows, 2K]

    @staticmethod
    def _conv_act(maps: torch.Tensor, conv: nn.Conv2d, act: nn.Module) -> torch.Tensor:
        """One convolution and its activation on channels-last maps, ``[B, C, R, T]``.

        Returns ``[B, K, R - 2, T]``: no padding over rows, each layer uses up one context row
        on either side.
        """
        fusable = (
            _CONV_POINTWISE is not None
            and maps.device.type == "cpu"
            and maps.dtype == torch.float32
            and isinstance(act, nn.GELU)
            and act.approximate == "none"
            and not (torch.is_grad_enabled() and conv.weight.requires_grad)
        )
        if fusable:  # inference: the activation is computed as the convolution writes
            return _CONV_POINTWISE(
                maps, conv.weight, conv.bias, [0, 1], [1, 1], [1, 1], 1, "gelu", [], "none"
            )
        maps = F.conv2d(maps, conv.weight, conv.bias, padding=(0, 1))
        return act(maps.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # elementwise, contiguous
