"""Shared base class and helpers for the segmentation losses.

Every loss takes ``logits [B, T, C]``, ``target [B, T]`` (long) and ``mask [B, T]`` (bool,
True = real line) and returns ``(total, components)``: a scalar tensor to back-propagate and a
dict of named scalar tensors for logging. Padding is handled here once: :meth:`_prepare`
replaces padded logits by a constant, so padded positions influence neither the value nor the
gradient, whatever they hold (even NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lyricseg.utils import LyricsegError

#: Denominators are clamped to this so that an all-padding batch yields 0, not 0/0.
EPS = 1e-8

CLASS_WEIGHT_SCHEMES = ("none", "balanced", "effective")


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over the positions where ``mask`` is True.

    Args:
        values: ``[B, T]`` per-line values.
        mask: ``[B, T]`` bool, True for real lines.

    Returns:
        Scalar tensor; 0 (with zero gradient) when the mask is empty.
    """
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum().clamp_min(1)


def masked_class_counts(target: Tensor, mask: Tensor, num_classes: int) -> Tensor:
    """Number of real lines per class.

    Args:
        target: ``[B, T]`` long labels.
        mask: ``[B, T]`` bool.
        num_classes: C.

    Returns:
        ``[C]`` float counts.
    """
    onehot = F.one_hot(target, num_classes).to(torch.float32)
    return (onehot * mask.unsqueeze(-1)).sum(dim=(0, 1))


def class_weights_from_counts(
    counts: Tensor,
    scheme: str,
    beta: float = 0.999,
    max_weight: float | None = None,
) -> Tensor:
    """Per-class weights from class frequencies.

    ``balanced``: ``w_c = N / (C * n_c)`` (inverse frequency, frequency-weighted mean 1).
    ``effective``: Cui et al. (2019) class-balanced weights ``w_c ∝ (1 - beta) / (1 - beta**n_c)``
    (the inverse of the effective number of samples), normalised so that ``sum(w) = C``.
    Classes with no line are treated as having one, so weights stay finite. ``max_weight``
    caps every weight after normalisation.

    Args:
        counts: ``[C]`` lines per class.
        scheme: ``"balanced"`` or ``"effective"``.
        beta: Effective-number hyper-parameter in ``[0, 1)``.
        max_weight: Optional upper bound for each weight.

    Returns:
        ``[C]`` float weights.
    """
    counts = counts.to(torch.float32).clamp_min(1.0)
    num_classes = counts.numel()
    if scheme == "balanced":
        weights = counts.sum() / (num_classes * counts)
    elif scheme == "effective":
        if not 0.0 <= beta < 1.0:
            raise LyricsegError(f"beta must be in [0, 1), got {beta}")
        counts64 = counts.to(torch.float64)
        effective_num = (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts64)) / (
            1.0 - beta
        )
        weights = (1.0 / effective_num).to(torch.float32)
        weights = weights * num_classes / weights.sum()
    else:
        raise LyricsegError(f"unknown class weight scheme {scheme!r}")
    if max_weight is not None:
        weights = weights.clamp_max(max_weight)
    return weights


def boundary_lines(target: Tensor, mask: Tensor, include_previous: bool = True) -> Tensor:
    """Mark label transitions.

    Line ``i`` is a transition when it and line ``i - 1`` are both real and their labels differ.
    With ``include_previous`` the line before the transition is marked too, so both sides of
    the border count.

    Args:
        target: ``[B, T]`` long labels.
        mask: ``[B, T]`` bool.
        include_previous: Also mark line ``i - 1``.

    Returns:
        ``[B, T]`` bool.
    """
    starts = torch.zeros_like(mask)
    starts[:, 1:] = (target[:, 1:] != target[:, :-1]) & mask[:, 1:] & mask[:, :-1]
    if include_previous:
        marked = starts.clone()
        marked[:, :-1] |= starts[:, 1:]
        starts = marked
    return starts & mask


def dilate(flags: Tensor, window: int) -> Tensor:
    """Extend True entries by ``window`` positions on each side along time.

    Args:
        flags: ``[B, T]`` bool.
        window: Non-negative radius.

    Returns:
        ``[B, T]`` bool.
    """
    if window <= 0 or flags.shape[1] == 0:
        return flags
    pooled = F.max_pool1d(
        flags.to(torch.float32).unsqueeze(1), kernel_size=2 * window + 1, stride=1, padding=window
    )
    return pooled.squeeze(1) > 0


def parse_class_weights(class_weights: str | Sequence[float] | None) -> str | Tensor | None:
    """Validate a ``class_weights`` setting: a scheme name, an explicit list, or None."""
    if class_weights is None or class_weights == "none":
        return None
    if isinstance(class_weights, str):
        if class_weights not in CLASS_WEIGHT_SCHEMES:
            raise LyricsegError(
                f"class_weights must be one of {CLASS_WEIGHT_SCHEMES} or a list, "
                f"got {class_weights!r}"
            )
        return class_weights
    weights = torch.as_tensor(list(class_weights), dtype=torch.float32)
    if weights.ndim != 1 or bool((weights < 0).any()):
        raise LyricsegError(f"class_weights must be a flat list of non-negative numbers: {weights}")
    return weights


class SegmentationLoss(nn.Module):
    """Base class of all lyricseg losses.

    Subclasses implement :meth:`forward` with the shared signature and call :meth:`_prepare`
    first. Class frequencies for weighting are set once from the training set with
    :meth:`set_class_counts`; until then, losses that need them count the current batch.

    Args:
        num_classes: Number of classes C (2: verse, chorus).
    """

    #: Short name used as the component key of single-term losses and in :meth:`describe`.
    name: str = "loss"

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        if num_classes < 2:
            raise LyricsegError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = num_classes
        # Not persistent: the data module sets it at setup, and a checkpoint of a model whose
        # counts were never set must still load into one whose counts were.
        self.register_buffer("class_counts", None, persistent=False)

    def set_class_counts(self, counts: Tensor | Sequence[float]) -> None:
        """Store per-class line counts (``[C]``) of the training set."""
        counts = torch.as_tensor(counts, dtype=torch.float32).flatten()
        if counts.numel() != self.num_classes:
            raise LyricsegError(
                f"expected {self.num_classes} class counts, got {counts.numel()}: {counts}"
            )
        self.class_counts = counts

    def counts_for(self, target: Tensor, mask: Tensor) -> Tensor:
        """Class counts: the stored ones, or the current batch's when none were set."""
        if self.class_counts is not None:
            return self.class_counts.to(target.device)
        return masked_class_counts(target, mask, self.num_classes)

    def _prepare(
        self, logits: Tensor, target: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Check shapes and neutralise padding.

        Args:
            logits: ``[B, T, C]``.
            target: ``[B, T]``.
            mask: ``[B, T]``.

        Returns:
            ``(logits, target, mask)``: float32 logits with padded rows set to 0 (so they carry
            no gradient), long target with padded labels set to 0 (any padding value is
            allowed), bool mask.
        """
        if logits.ndim != 3 or logits.shape[-1] != self.num_classes:
            raise ValueError(
                f"logits must be [B, T, {self.num_classes}], got {tuple(logits.shape)}"
            )
        if target.shape != logits.shape[:2] or mask.shape != logits.shape[:2]:
            raise ValueError(
                f"target {tuple(target.shape)} and mask {tuple(mask.shape)} must be "
                f"{tuple(logits.shape[:2])}"
            )
        mask = mask.to(torch.bool)
        logits = torch.where(
            mask.unsqueeze(-1), logits.float(), torch.zeros((), device=logits.device)
        )
        target = torch.where(
            mask, target.long(), torch.zeros((), dtype=torch.long, device=target.device)
        )
        return logits, target, mask

    def term_weights(self) -> dict[str, float]:
        """Weight of each logged component in the total.

        ``total == sum(w * components[name] for name, w in term_weights().items())`` for the
        components dict that :meth:`forward` returns, and the keys are exactly the components
        it logs at top level (names without ``/``). A single-term loss logs its total under
        :attr:`name` with weight 1, which is this default.

        Returns:
            ``{component name: weight}`` as plain floats.
        """
        return {self.name: 1.0}

    def folded_terms(self) -> set[str]:
        """Terms folded into another logged component, so without a contribution of their own.

        Returns:
            Term names; empty by default.
        """
        return set()

    def extra_repr_items(self) -> dict[str, object]:
        """Parameters shown by :meth:`describe`; subclasses extend this."""
        return {}

    def describe(self) -> str:
        """One line with the loss name and its parameters, for the start-up summary."""
        items = ", ".join(f"{k}={_fmt(v)}" for k, v in self.extra_repr_items().items())
        return f"{self.name}({items})"

    def extra_repr(self) -> str:
        """Parameters shown in the module's repr."""
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.extra_repr_items().items())


def _fmt(value: object) -> str:
    if isinstance(value, Tensor):
        return "[" + ", ".join(f"{v:.4g}" for v in value.flatten().tolist()) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
