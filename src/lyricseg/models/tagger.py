"""The LightningModule: tagger network, loss, decoder and metric collections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MaxMetric, MinMetric

from lyricseg.checkpoint import ModelRecord, embed
from lyricseg.metrics import build_metric_collection
from lyricseg.models.components import ArgmaxDecoder
from lyricseg.utils.seeding import rng_states, set_rng_states


class LyricsTagger(L.LightningModule):
    """Verse/chorus line tagger: an injected network, its loss, decoder and metrics.

    The network's architecture is its own config (``model.net``), so this module never
    repeats its arguments; what a checkpoint needs to rebuild the network comes from
    :mod:`lyricseg.checkpoint` through :attr:`record`.

    Args:
        net: The tagger network, ``(features [B,T,F], mask [B,T], ssm) -> logits [B,T,C]``
            (e.g. :class:`~lyricseg.models.components.TaggerNet`).
        criterion: Loss called as ``criterion(logits[B,T,C], labels[B,T], mask[B,T])`` and
            returning ``(total, components)``.
        optimizer: Partial optimizer, called with the parameters.
        scheduler: Optional dict with ``scheduler`` (partial, called with the optimizer),
            ``interval`` and ``monitor``.
        decoder: Turns logits into labels (argmax when None).
        monitor: Name of the metric that selects the best epoch (best-so-far is logged as
            ``<monitor>_best`` and kept in checkpoints, so it survives a resume).
        monitor_mode: ``max`` or ``min``: whether a larger monitored value is better.
    """

    def __init__(
        self,
        net: nn.Module,
        criterion: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: dict[str, Any] | None = None,
        decoder: nn.Module | None = None,
        monitor: str = "val/boundary_f1",
        monitor_mode: str = "max",
    ):
        super().__init__()
        self.net = net
        self.criterion = criterion
        self.decoder = decoder if decoder is not None else ArgmaxDecoder()
        self.optimizer_factory = optimizer
        self.scheduler_cfg = scheduler
        self.monitor = monitor
        self.metrics = nn.ModuleDict(
            {stage: build_metric_collection(f"{stage}/") for stage in ("val", "test")}
        )
        self.monitor_best = MinMetric() if monitor_mode == "min" else MaxMetric()
        self.monitor_best.persistent(True)
        #: What checkpoints store to rebuild the network (see :mod:`lyricseg.checkpoint`).
        self.record: ModelRecord | None = None

    def forward(
        self, features: torch.Tensor, mask: torch.Tensor, ssm: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[B, T, C]`` for features ``[B, T, F]``, mask ``[B, T]`` and SSMs."""
        return self.net(features, mask, ssm)

    def _loss(self, batch: dict[str, Any], stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["features"], batch["mask"], batch.get("ssm"))
        total, components = self.criterion(logits, batch["labels"].clamp(min=0), batch["mask"])
        size = len(batch["ids"])
        # Epoch means under stable names (train/loss, train/loss/<component>, val/...).
        options = {"on_step": False, "on_epoch": True, "batch_size": size}
        options["sync_dist"] = stage != "train"
        self.log(f"{stage}/loss", total, prog_bar=True, **options)
        for name, value in components.items():
            self.log(f"{stage}/loss/{name}", value, **options)
        return total, logits

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:  # noqa: D102
        total, _ = self._loss(batch, "train")
        return total

    def on_train_epoch_end(self) -> None:
        """Log learnable or adaptive loss weights (compound losses) once per epoch."""
        weights = getattr(self.criterion, "current_weights", None)
        if callable(weights):
            for name, value in weights().items():
                self.log(f"train/loss_weight/{name}", float(value))

    def _evaluate(self, batch: dict[str, Any], stage: str) -> dict[str, Any]:
        _, logits = self._loss(batch, stage)
        mask = batch["mask"]
        preds = self.decoder(logits, mask)
        probs = torch.softmax(logits.float(), dim=-1)[..., 1]
        target = batch["labels"].clamp(min=0)
        self.metrics[stage].update(preds=preds, target=target, mask=mask, probs=probs)
        return {"ids": batch["ids"], "probs": probs, "preds": preds, "target": target, "mask": mask}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Update val metrics; return ``ids``, ``probs``/``preds``/``target``/``mask`` [B, T]."""
        return self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:  # noqa: D102
        self._evaluate(batch, "test")

    def _log_metrics(self, stage: str) -> dict[str, torch.Tensor]:
        values = self.metrics[stage].compute()
        self.log_dict(values)
        self.metrics[stage].reset()
        return values

    def on_validation_epoch_end(self) -> None:  # noqa: D102
        values = self._log_metrics("val")
        if self.monitor in values and not self.trainer.sanity_checking:
            self.monitor_best(values[self.monitor])
            self.log(f"{self.monitor}_best", self.monitor_best.compute())

    def on_test_epoch_end(self) -> None:  # noqa: D102
        self._log_metrics("test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Logits and decoded labels of a batch (``[B, T, C]`` and ``[B, T]``)."""
        logits = self(batch["features"], batch["mask"], batch.get("ssm"))
        return {
            "logits": logits.float(),
            "preds": self.decoder(logits, batch["mask"]),
            "mask": batch["mask"],
            "index": batch["index"],
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the model record and the random states (an exact resume needs both)."""
        if self.record is not None:
            embed(checkpoint, self.record)
        checkpoint["rng_states"] = rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Continue the random streams where the checkpoint left them (resume)."""
        if "rng_states" in checkpoint:
            set_rng_states(checkpoint["rng_states"])

    def configure_optimizers(self) -> Any:  # noqa: D102
        optimizer = self.optimizer_factory(params=self.parameters())
        if not self.scheduler_cfg:
            return optimizer
        config = {
            "scheduler": self.scheduler_cfg["scheduler"](optimizer),
            "interval": self.scheduler_cfg.get("interval", "epoch"),
        }
        if self.scheduler_cfg.get("monitor"):
            config["monitor"] = self.scheduler_cfg["monitor"]
        return {"optimizer": optimizer, "lr_scheduler": config}
