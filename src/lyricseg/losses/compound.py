"""Weighted sum of several losses with fixed or learnable weights."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from hydra.utils import instantiate
from torch import Tensor, nn

from lyricseg.losses.base import SegmentationLoss
from lyricseg.utils import LyricsegError

WEIGHTING_CHOICES = ("fixed", "softmax", "uncertainty")


def _build_loss(spec: Any, where: str) -> SegmentationLoss:
    """Turn a component's ``loss`` entry (a module or a ``_target_`` mapping) into a module."""
    if isinstance(spec, Mapping) and "_target_" in spec:
        spec = instantiate(spec)
    if not isinstance(spec, SegmentationLoss):
        raise LyricsegError(
            f"compound component {where!r} must be a SegmentationLoss or a _target_ mapping, "
            f"got {type(spec).__name__}"
        )
    return spec


def _parse_components(components: Any) -> list[tuple[str, float, SegmentationLoss]]:
    """Normalise the accepted ``components`` layouts to ``(name, weight, loss)`` triples."""
    entries: list[tuple[str | None, Any]] = []
    if isinstance(components, Mapping):
        entries = [(str(name), spec) for name, spec in components.items()]
    elif isinstance(components, Sequence) and not isinstance(components, str):
        entries = [(None, spec) for spec in components]
    else:
        raise LyricsegError("compound components must be a mapping name -> spec or a list of specs")
    if not entries:
        raise LyricsegError("compound loss needs at least one component")

    parsed = []
    for position, (name, spec) in enumerate(entries):
        weight: Any = 1.0
        loss_spec = spec
        if isinstance(spec, Mapping) and "_target_" not in spec:
            unknown = set(spec) - {"loss", "weight", "name"}
            if "loss" not in spec or unknown:
                raise LyricsegError(
                    f"compound component {name or position!r} needs keys loss and optional "
                    f"weight/name, got {sorted(spec)}"
                )
            loss_spec = spec["loss"]
            weight = spec.get("weight", 1.0)
            name = spec.get("name", name)
        loss = _build_loss(loss_spec, str(name or position))
        name = name or loss.name
        if "." in name or "/" in name or not name:
            raise LyricsegError(
                f"compound component name {name!r} must be non-empty, no '.' or '/'"
            )
        parsed.append((str(name), float(weight), loss))
    names = [name for name, _, _ in parsed]
    if len(set(names)) != len(names):
        raise LyricsegError(f"compound component names must be unique, got {names}")
    return parsed


class CompoundLoss(SegmentationLoss):
    """Weighted sum of component losses.

    ``components`` maps a name to ``{weight: float, loss: <loss>}`` where ``<loss>`` is a built
    :class:`SegmentationLoss` or a Hydra ``_target_`` mapping (instantiated here). A list of
    ``{name, weight, loss}`` mappings is accepted too (``name`` defaults to the loss's own name).

    Weighting:

    * ``fixed``: ``total = sum_i w_i L_i``; the weights are a buffer, changed only through
      :meth:`set_weights` (e.g. by the ``AdaptiveLossWeights`` callback).
    * ``softmax``: ``total = sum_i softmax(theta)_i L_i`` with learnable ``theta`` initialised to
      ``log w_i``, so the starting weights are the configured ones normalised to sum 1.
      Minimising this alone moves weight towards the smallest loss; use it with small learning
      rates or weight decay on ``theta``.
    * ``uncertainty``: Kendall et al. (2018), ``total = sum_i exp(-s_i) L_i + s_i`` with learnable
      log-variances ``s_i`` initialised to ``-log w_i``. Meant for non-negative components (all
      lyricseg losses are, except a cross-entropy with an entropy bonus).

    Learnable weights are ``nn.Parameter``s of this module, hence of the LightningModule that
    holds it, so the optimiser trains them.

    Args:
        components: Mapping (or list) of component specs, see above.
        weighting: ``"fixed"``, ``"softmax"`` or ``"uncertainty"``.
    """

    name = "compound"

    def __init__(self, components: Any, weighting: str = "fixed") -> None:
        parsed = _parse_components(components)
        num_classes = {loss.num_classes for _, _, loss in parsed}
        if len(num_classes) != 1:
            raise LyricsegError(f"compound components disagree on num_classes: {num_classes}")
        super().__init__(num_classes.pop())
        if weighting not in WEIGHTING_CHOICES:
            raise LyricsegError(f"weighting must be one of {WEIGHTING_CHOICES}, got {weighting!r}")
        self.weighting = weighting
        self.components = nn.ModuleDict({name: loss for name, _, loss in parsed})
        weights = torch.tensor([weight for _, weight, _ in parsed], dtype=torch.float32)
        if bool((weights < 0).any()) or not bool(torch.isfinite(weights).all()):
            raise LyricsegError(f"compound weights must be finite and non-negative: {weights}")
        if weighting != "fixed" and bool((weights <= 0).any()):
            raise LyricsegError(f"{weighting} weighting needs positive initial weights: {weights}")
        if weighting == "fixed":
            self.register_buffer("fixed_weights", weights)
        elif weighting == "softmax":
            self.weight_logits = nn.Parameter(torch.log(weights / weights.sum()))
        else:
            self.log_variances = nn.Parameter(-torch.log(weights))

    @property
    def component_names(self) -> list[str]:
        """Names of the components, in order."""
        return list(self.components.keys())

    def weight_tensor(self) -> Tensor:
        """``[N]`` effective weights (with gradient for learnable weighting)."""
        if self.weighting == "fixed":
            return self.fixed_weights
        if self.weighting == "softmax":
            return self.weight_logits.softmax(dim=0)
        return torch.exp(-self.log_variances)

    def current_weights(self) -> dict[str, float]:
        """Effective weight of each component as plain floats, for logging."""
        values = self.weight_tensor().detach().cpu().tolist()
        return dict(zip(self.component_names, values, strict=True))

    def term_weights(self) -> dict[str, float]:
        """The current weight of each component, as in :meth:`current_weights`.

        Sub-terms ``<name>/<term>`` are parts of ``<name>`` and not listed. With
        ``uncertainty`` weighting the total also holds ``sum(log_variances)``, which is no
        logged component; for the other weightings the weighted sum is the total.
        """
        return self.current_weights()

    def folded_terms(self) -> set[str]:
        """Folded terms of the components, as ``<name>/<term>``."""
        items = self.components.items()
        return {f"{name}/{term}" for name, loss in items for term in loss.folded_terms()}

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Replace the fixed weights (only for ``weighting="fixed"``).

        Args:
            weights: New weight per component name; names left out keep their weight.
        """
        if self.weighting != "fixed":
            raise LyricsegError(
                f"set_weights needs fixed weighting, this loss uses {self.weighting}"
            )
        unknown = set(weights) - set(self.component_names)
        if unknown:
            raise LyricsegError(f"unknown compound components {sorted(unknown)}")
        new = self.fixed_weights.clone()
        for position, name in enumerate(self.component_names):
            if name in weights:
                value = float(weights[name])
                if value < 0 or not math.isfinite(value):
                    raise LyricsegError(f"weight of {name!r} must be finite and >= 0, got {value}")
                new[position] = value
        self.fixed_weights.copy_(new)

    def set_class_counts(self, counts: Tensor | Sequence[float]) -> None:
        """Store the counts here and pass them on to every component."""
        super().set_class_counts(counts)
        for loss in self.components.values():
            loss.set_class_counts(counts)

    def forward(
        self, logits: Tensor, target: Tensor, mask: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Compute the loss.

        Args:
            logits: ``[B, T, C]`` unnormalised scores.
            target: ``[B, T]`` long labels.
            mask: ``[B, T]`` bool, True for real lines.

        Returns:
            ``(total, components)``: for each component ``<name>`` its unweighted total, and when
            the component reports several terms also ``<name>/<term>``. Weights are not in the
            dict; see :meth:`current_weights`.
        """
        totals = []
        components: dict[str, Tensor] = {}
        for name, loss in self.components.items():
            value, parts = loss(logits, target, mask)
            totals.append(value)
            components[name] = value
            if len(parts) > 1:
                components.update({f"{name}/{key}": part for key, part in parts.items()})
        stacked = torch.stack(totals)
        weights = self.weight_tensor().to(stacked.device)
        total = (weights * stacked).sum()
        if self.weighting == "uncertainty":
            total = total + self.log_variances.sum()
        return total, components

    def describe(self) -> str:
        """One line: weighting and each component's weight and description."""
        weights = self.current_weights()
        parts = "; ".join(
            f"{name}: {weights[name]:.3g} x {loss.describe()}"
            for name, loss in self.components.items()
        )
        return f"compound(weighting={self.weighting}; {parts})"

    def extra_repr_items(self) -> dict[str, object]:
        """Parameters shown by :meth:`describe`."""
        return {"weighting": self.weighting}
