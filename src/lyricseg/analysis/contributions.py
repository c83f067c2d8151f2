"""How much each loss term adds to the total, from the logged (unweighted) components.

Losses log their terms unweighted (``train/loss/<term>``); the total is a weighted sum whose
weights the loss itself reports (:meth:`lyricseg.losses.SegmentationLoss.term_weights`). The
loss is rebuilt from the run's config to ask it; weights logged during training
(``train/loss_weight/<name>``: learned or adapted compound weights) take precedence. The
contribution of a term is ``weight x term``; its share is ``|contribution| / sum
|contributions|`` (the entropy bonus enters with a minus sign).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import OmegaConf

from lyricseg.analysis.runs import RunData
from lyricseg.utils import get_logger
from lyricseg.utils.instantiate import (
    UnsafeConfigError,
    exported_classes,
    resolve_references,
    safe_instantiate,
)

log = get_logger(__name__)

#: Components whose contribution counts as "the boundary term".
BOUNDARY_NAMES = ("boundary",)
#: Components that penalize over-confidence.
CONFIDENCE_NAMES = ("confidence",)
#: Components that smooth predictions within true segments.
CONSISTENCY_NAMES = ("consistency",)


@dataclass
class LossTerms:
    """Weights of a run's loss terms.

    Attributes:
        loss_name: The loss class (``BoundaryAwareLoss``...) or ``unknown``.
        weights: ``{component: weight}`` for the components whose weight is known; a component
            absent here enters with weight 1 (``weights_known`` then is False).
        weights_known: Whether every logged component has a weight from the loss or the logs.
        folded: Terms folded into another component, without a contribution of their own
            (the boundary emphasis of a boundary-aware loss with ``use_boundary_as_primary``).
    """

    loss_name: str
    weights: dict[str, float]
    weights_known: bool = True
    folded: set[str] = field(default_factory=set)

    @property
    def boundary_folded(self) -> bool:
        """Whether a boundary term shapes the loss inside another component."""
        return any(n in term for term in self.folded for n in BOUNDARY_NAMES)


@functools.cache
def _loss_classes() -> Mapping[str, type]:
    """Classes a run's loss config may name: the losses :mod:`lyricseg.losses` exports."""
    # Lazy: the losses need torch, which comparing runs does without (tests/packaging/test_cli.py).
    from lyricseg import losses

    return exported_classes([losses], losses.SegmentationLoss)


def build_loss(run: RunData) -> Any | None:
    """The run's loss, rebuilt from its config, or None when that is not possible.

    References to other keys of the run's config are followed
    (:func:`~lyricseg.utils.instantiate.resolve_references`; a resolver call such as
    ``${oc.env:...}`` is refused with a warning, never run), then the config is built by
    :func:`~lyricseg.utils.instantiate.safe_instantiate` with the lyricseg loss classes as
    the allow-list: a config naming any other ``_target_`` (at any
    depth) or a Hydra key other than ``_target_``/``_partial_`` is refused with a warning,
    and so is one that does not resolve or build.

    Returns:
        A :class:`lyricseg.losses.SegmentationLoss`, or None.
    """
    if run.config is None or OmegaConf.select(run.config, "loss") is None:
        return None
    root = OmegaConf.to_container(run.config, resolve=False)
    try:  # references to other keys only: reading a run folder runs no resolver
        node = resolve_references(root, root["loss"], "loss")
    except UnsafeConfigError as err:
        log.warning("Run %s: loss config not resolved: %s", run.name, err)
        return None
    if not isinstance(node, dict) or "_target_" not in node:
        return None
    try:
        return safe_instantiate(node, _loss_classes(), "loss")
    except UnsafeConfigError as err:
        log.warning("Run %s: not a lyricseg loss, not built: %s", run.name, err)
        return None
    except Exception as err:  # a config this version of lyricseg cannot build
        log.warning("Run %s: cannot build its loss (%s)", run.name, err)
        return None


def _logged_weights(run: RunData, names: list[str], epoch: int | None) -> dict[str, float]:
    out = {}
    for name in names:
        value = run.at(f"train/loss_weight/{name}", epoch)
        if value is None:
            value = run.final(f"train/loss_weight/{name}")
        if value is not None:
            out[name] = value
    return out


def component_names(run: RunData, split: str = "train") -> list[str]:
    """Top-level loss components logged for ``split`` (sub-terms ``<name>/<term>`` excluded)."""
    prefix = f"{split}/loss/"
    names = {k[len(prefix) :] for k in run.history if k.startswith(prefix)}
    return sorted(n for n in names if "/" not in n)


class _Weigher:
    """A run's loss weights, rebuilt once and looked up per epoch."""

    def __init__(self, run: RunData) -> None:
        self.run = run
        self.names = component_names(run)
        loss = build_loss(run)
        self.loss_name = type(loss).__name__ if loss is not None else "unknown"
        self.folded = loss.folded_terms() if loss is not None else set()
        # Learnable weights move during training: the config gives only their start.
        learns = loss is not None and any(p.requires_grad for p in loss.parameters())
        self.static = loss.term_weights() if loss is not None and not learns else {}

    def at(self, epoch: int | None) -> LossTerms:
        weights = {**self.static, **_logged_weights(self.run, self.names, epoch)}
        known = self.loss_name != "unknown" and all(n in weights for n in self.names)
        return LossTerms(self.loss_name, weights, known, self.folded)


def loss_terms(run: RunData, epoch: int | None = None) -> LossTerms:
    """The weight of every logged component of a run's loss at ``epoch`` (default: last)."""
    return _Weigher(run).at(epoch if epoch is not None else run.last_epoch)


def contributions(run: RunData, split: str = "train", epoch: int | None = None) -> dict[str, float]:
    """``{component: weight x value}`` at ``epoch`` (default: the last epoch logged).

    Returns:
        An empty dict when the run logged no components for ``split``.
    """
    names = component_names(run, split)
    if not names:
        return {}
    if epoch is None:
        epochs = {e for n in names for e in run.history.get(f"{split}/loss/{n}", {})}
        if not epochs:
            return {}
        epoch = max(epochs)
    terms = loss_terms(run, epoch)
    out = {}
    for name in names:
        value = run.at(f"{split}/loss/{name}", epoch)
        if value is not None:
            out[name] = terms.weights.get(name, 1.0) * value
    return out


def contribution_history(
    run: RunData, split: str = "train"
) -> dict[str, tuple[list[int], list[float]]]:
    """``{component: (epochs, weight x value)}`` over the run."""
    weigher = _Weigher(run)
    out = {}
    for name in component_names(run, split):
        epochs, values = run.series(f"{split}/loss/{name}")
        weighted = []
        for epoch, value in zip(epochs, values, strict=True):
            weighted.append(weigher.at(epoch).weights.get(name, 1.0) * value)
        out[name] = (epochs, weighted)
    return out


def shares(parts: dict[str, float]) -> dict[str, float]:
    """``{component: |contribution| / sum |contributions|}`` (empty when all are zero)."""
    total = sum(abs(v) for v in parts.values())
    if total <= 0:
        return {}
    return {k: abs(v) / total for k, v in parts.items()}


def share_of(run: RunData, names: tuple[str, ...], split: str = "train") -> float | None:
    """Share of the total loss at the last epoch taken by the components named ``names``.

    A component counts when its name contains one of ``names`` (so a compound component
    ``boundary_dist`` counts as a boundary term).

    Returns:
        None when the run has no such component (e.g. the boundary share of a cross-entropy
        run, or of a boundary-aware run whose boundary emphasis is folded into ``ce``).
    """
    part = shares(contributions(run, split))
    present = [k for k in part if any(n in k for n in names)]
    if not present:
        return None
    return sum(part[k] for k in present)
