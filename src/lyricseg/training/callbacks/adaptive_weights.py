"""Re-balance the fixed weights of a compound loss from validation results."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lightning.pytorch import Callback

from lyricseg.losses import CompoundLoss
from lyricseg.utils import LyricsegError, get_logger

log = get_logger(__name__)

STRATEGIES = ("uniform", "inverse_f1", "difficulty")


def _scalar(value: Any) -> float | None:
    """A finite float from a metric value (tensor or number), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


class AdaptiveLossWeights(Callback):
    """Recompute the weights of a fixed-weight :class:`~lyricseg.losses.CompoundLoss`.

    Runs after every validation of every ``every_n_epochs``-th epoch on ``pl_module.criterion``.
    Each strategy gives a score ``r_i`` per component; the new weights are
    ``w_i^0 * r_i`` (``w^0``: the weights the loss had at the first update, i.e. the configured
    ones) normalised to sum to ``total_weight`` (default: the sum of ``w^0``), floored at
    ``min_weight`` and blended with the current weights:
    ``w <- momentum * w + (1 - momentum) * w_new``.

    * ``uniform``: every component gets ``total_weight / N`` (ignores ``w^0``).
    * ``inverse_f1``: each component watches a validation metric where higher is better
      (``metric_map[name]``; by default ``val/boundary_f1`` for components whose name contains
      "boundary" and ``val/macro_f1`` otherwise), ``r_i = 1 / (metric_i + eps)``: components
      tied to the weakest metric gain weight.
    * ``difficulty``: ``r_i = L_i / L_i^0``, the component's current validation loss
      (``val/loss/<name>``) over its value at the first update: components that improve
      slowest gain weight. Scale-free, so components of different magnitude compare fairly; a
      component whose first value is not positive keeps ``r_i = 1``.

    When a needed metric is missing the weights stay unchanged for that epoch. The callback
    acts in ``on_validation_end``: there every validation metric of the epoch is in
    ``trainer.callback_metrics``, including those the module logs in its own
    ``on_validation_epoch_end`` (which runs after the callbacks' hook of that name). The module
    logs the weights (``train/loss_weight/<name>``) at the end of each training epoch, which
    comes after validation.

    Args:
        strategy: ``"uniform"``, ``"inverse_f1"`` or ``"difficulty"``.
        every_n_epochs: Update period in epochs.
        metric_map: Component name -> metric key for ``inverse_f1``.
        momentum: Share of the old weights kept at each update, in ``[0, 1)``.
        min_weight: Lower bound of each weight after normalisation.
        total_weight: Sum of the weights after an update; None keeps the initial sum.
        eps: Stabiliser of ``inverse_f1``.
    """

    def __init__(
        self,
        strategy: str = "inverse_f1",
        every_n_epochs: int = 1,
        metric_map: Mapping[str, str] | None = None,
        momentum: float = 0.0,
        min_weight: float = 0.0,
        total_weight: float | None = None,
        eps: float = 0.05,
    ) -> None:
        super().__init__()
        if strategy not in STRATEGIES:
            raise LyricsegError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if every_n_epochs < 1:
            raise LyricsegError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        if not 0.0 <= momentum < 1.0:
            raise LyricsegError(f"momentum must be in [0, 1), got {momentum}")
        self.strategy = strategy
        self.every_n_epochs = int(every_n_epochs)
        self.metric_map = dict(metric_map or {})
        self.momentum = float(momentum)
        self.min_weight = float(min_weight)
        self.total_weight = total_weight
        self.eps = float(eps)
        self._reference: dict[str, float] = {}
        self._warned = False
        self._initial_weights: dict[str, float] = {}

    def metric_for(self, name: str) -> str:
        """Metric key that ``inverse_f1`` uses for a component."""
        if name in self.metric_map:
            return self.metric_map[name]
        return "val/boundary_f1" if "boundary" in name else "val/macro_f1"

    def _criterion(self, pl_module: Any) -> CompoundLoss | None:
        criterion = getattr(pl_module, "criterion", None)
        if isinstance(criterion, CompoundLoss) and criterion.weighting == "fixed":
            return criterion
        if not self._warned:
            log.warning(
                "AdaptiveLossWeights needs pl_module.criterion to be a CompoundLoss with fixed "
                "weighting (got %s); leaving the loss unchanged",
                type(criterion).__name__
                if not isinstance(criterion, CompoundLoss)
                else f"weighting={criterion.weighting}",
            )
            self._warned = True
        return None

    def inputs(self, names: list[str], metrics: Mapping[str, Any]) -> dict[str, float | None]:
        """The metric value each component's score is computed from (empty for uniform)."""
        if self.strategy == "uniform":
            return {}
        if self.strategy == "inverse_f1":
            return {name: _scalar(metrics.get(self.metric_for(name))) for name in names}
        return {name: _scalar(metrics.get(f"val/loss/{name}")) for name in names}

    def scores(self, names: list[str], metrics: Mapping[str, Any]) -> dict[str, float] | None:
        """Raw per-component scores of the strategy, or None when a metric is missing."""
        if self.strategy == "uniform":
            return dict.fromkeys(names, 1.0)
        prior = self._initial_weights
        values = self.inputs(names, metrics)
        if any(value is None for value in values.values()):
            return None
        if self.strategy == "inverse_f1":
            return {
                name: prior.get(name, 1.0) / (max(value, 0.0) + self.eps)
                for name, value in values.items()
            }
        scores = {}
        for name, value in values.items():
            reference = self._reference.setdefault(name, value)
            ratio = max(value, 0.0) / reference if reference > 0 else 1.0
            scores[name] = prior.get(name, 1.0) * ratio
        return scores

    def new_weights(
        self, current: Mapping[str, float], metrics: Mapping[str, Any]
    ) -> dict[str, float] | None:
        """Weights after one update from ``current``, or None when nothing should change."""
        names = list(current)
        raw = self.scores(names, metrics)
        if raw is None:
            return None
        total = self.total_weight
        if total is None:
            total = sum(self._initial_weights.values()) if self._initial_weights else 1.0
        raw_sum = sum(raw.values())
        if raw_sum <= 0:
            return None
        proposed = {name: max(total * raw[name] / raw_sum, self.min_weight) for name in names}
        return {
            name: self.momentum * current[name] + (1.0 - self.momentum) * proposed[name]
            for name in names
        }

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Update the weights from this validation's metrics (skipped in the sanity check)."""
        if getattr(trainer, "sanity_checking", False):
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs != 0:
            return
        criterion = self._criterion(pl_module)
        if criterion is None:
            return
        current = criterion.current_weights()
        if not self._initial_weights:
            self._initial_weights = dict(current)
        weights = self.new_weights(current, trainer.callback_metrics)
        if weights is None:
            log.debug("adaptive loss weights: a metric is missing, weights unchanged")
            return
        criterion.set_weights(weights)
        log.debug("adaptive loss weights (%s): %s", self.strategy, weights)

    def state_dict(self) -> dict[str, Any]:
        """Callback state saved in checkpoints."""
        return {"reference": dict(self._reference), "initial_weights": dict(self._initial_weights)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict`."""
        self._reference = dict(state_dict.get("reference", {}))
        self._initial_weights = dict(state_dict.get("initial_weights", {}))
