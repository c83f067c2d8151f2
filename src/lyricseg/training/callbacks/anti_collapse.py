"""Warn (and optionally stop) when predictions collapse onto one class or saturate."""

from __future__ import annotations

import math
from typing import Any

from lightning.pytorch import Callback

from lyricseg.utils import LyricsegError, get_logger

log = get_logger(__name__)


def _scalar(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


class AntiCollapseMonitor(Callback):
    """Watch the predicted chorus rate and the share of over-confident predictions.

    After each validation (in ``on_validation_end``, where the epoch's metrics are all in
    ``trainer.callback_metrics``, also those the module logs in its own
    ``on_validation_epoch_end``) it reads ``chorus_rate_key`` (share of real lines predicted as
    chorus) and ``overconfident_key`` (share of lines with max probability above 0.95) from
    ``trainer.callback_metrics``; missing metrics are skipped silently. An epoch is out of
    bounds when the chorus rate leaves ``[min_chorus_rate, max_chorus_rate]`` or the
    over-confident share exceeds ``max_overconfident`` and also the accuracy
    (``accuracy_key``, when logged): confidence is only suspect when more lines are
    predicted confidently than correctly, so a model that has learned an easy corpus (99%
    right, 98% confident) raises no alarm. Such an epoch logs one warning naming
    every violation. With ``stop``, ``patience`` consecutive out-of-bounds validations set
    ``trainer.should_stop``. The first ``warmup_epochs`` epochs and the sanity check are
    ignored.

    Args:
        min_chorus_rate: Lowest acceptable predicted chorus rate.
        max_chorus_rate: Highest acceptable predicted chorus rate.
        max_overconfident: Highest acceptable share of over-confident lines.
        stop: Stop training after ``patience`` consecutive violating epochs.
        patience: Consecutive violating validations before stopping.
        warmup_epochs: Epochs at the start that are not checked.
        chorus_rate_key: Metric with the predicted chorus rate.
        overconfident_key: Metric with the over-confident share.
        accuracy_key: Metric with the share of lines predicted correctly (null: not used).
    """

    def __init__(
        self,
        min_chorus_rate: float = 0.05,
        max_chorus_rate: float = 0.8,
        max_overconfident: float = 0.5,
        stop: bool = False,
        patience: int = 1,
        warmup_epochs: int = 0,
        chorus_rate_key: str = "val/pred_chorus_rate",
        overconfident_key: str = "val/conf_over_95",
        accuracy_key: str | None = "val/accuracy",
    ) -> None:
        super().__init__()
        if not 0.0 <= min_chorus_rate <= max_chorus_rate <= 1.0:
            raise LyricsegError(
                f"need 0 <= min_chorus_rate <= max_chorus_rate <= 1, got "
                f"{min_chorus_rate}, {max_chorus_rate}"
            )
        if patience < 1:
            raise LyricsegError(f"patience must be >= 1, got {patience}")
        self.min_chorus_rate = float(min_chorus_rate)
        self.max_chorus_rate = float(max_chorus_rate)
        self.max_overconfident = float(max_overconfident)
        self.stop = bool(stop)
        self.patience = int(patience)
        self.warmup_epochs = int(warmup_epochs)
        self.chorus_rate_key = chorus_rate_key
        self.overconfident_key = overconfident_key
        self.accuracy_key = accuracy_key
        self.violations = 0

    def problems(self, metrics: Any) -> list[str] | None:
        """Violations found in ``metrics``; None when neither metric is present."""
        rate = _scalar(metrics.get(self.chorus_rate_key))
        overconfident = _scalar(metrics.get(self.overconfident_key))
        if rate is None and overconfident is None:
            return None
        found = []
        if rate is not None and rate < self.min_chorus_rate:
            found.append(f"chorus rate {rate:.3f} < {self.min_chorus_rate}")
        if rate is not None and rate > self.max_chorus_rate:
            found.append(f"chorus rate {rate:.3f} > {self.max_chorus_rate}")
        accuracy = _scalar(metrics.get(self.accuracy_key)) if self.accuracy_key else None
        if (
            overconfident is not None
            and overconfident > self.max_overconfident
            and (accuracy is None or overconfident > accuracy)
        ):
            found.append(
                f"over-confident share {overconfident:.3f} > {self.max_overconfident}"
                + ("" if accuracy is None else f" and > accuracy {accuracy:.3f}")
            )
        return found

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Check this validation's metrics; warn, and stop when patience runs out."""
        epoch = trainer.current_epoch
        if getattr(trainer, "sanity_checking", False) or epoch < self.warmup_epochs:
            return
        found = self.problems(trainer.callback_metrics)
        if found is None:
            return
        if not found:
            self.violations = 0
            return
        self.violations += 1
        stopping = self.stop and self.violations >= self.patience
        log.warning(
            "epoch %d: prediction collapse suspected: %s%s",
            epoch,
            "; ".join(found),
            " - stopping training" if stopping else "",
        )
        if stopping:
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        """Callback state saved in checkpoints."""
        return {"violations": self.violations}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict`."""
        self.violations = int(state_dict.get("violations", 0))
