"""The LightningModule: tagger network, loss, decoder and metric collections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torchmetrics import MaxMetric, MinMetric

from lyricseg.metrics import build_metric_collection
from lyricseg.models.components import ArgmaxDecoder, TaggerNet


class LyricsTagger(L.LightningModule):
    """Verse/chorus line tagger.

    Args:
        input_dim: Features per line (from the feature extractor).
        criterion: Loss called as ``criterion(logits[B,T,C], labels[B,T], mask[B,T])`` and
            returning ``(total, components)``.
        optimizer: Partial optimizer, called with the parameters.
        scheduler: Optional dict with ``scheduler`` (partial, called with the optimizer),
            ``interval`` and ``monitor``.
        hidden_size: LSTM hidden size per direction.
        num_layers: LSTM layers.
        dropout: Dropout rate.
        attention: Optional factory ``dim -> nn.Module`` (attention block).
        projection_size: Width of the input projection.
        decoder: Turns logits into labels (argmax when None).
        monitor: Name of the metric that selects the best epoch (best-so-far is logged as
            ``<monitor>_best``).
        monitor_mode: ``max`` or ``min``: whether a larger monitored value is better.
        ssm_encoder: Optional factory ``in_channels -> nn.Module`` for a learned encoder over
            the stacked SSMs (see :class:`~lyricseg.models.components.SSMEncoder`).
        ssm_channels: Number of stacked SSM views (from the feature extractor).
    """

    def __init__(
        self,
        input_dim: int,
        criterion: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: dict[str, Any] | None = None,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.3,
        attention: Callable[[int], nn.Module] | None = None,
        projection_size: int = 128,
        decoder: nn.Module | None = None,
        monitor: str = "val/boundary_f1",
        monitor_mode: str = "max",
        ssm_encoder: Callable[[int], nn.Module] | None = None,
        ssm_channels: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters(
            ignore=["criterion", "optimizer", "scheduler", "attention", "decoder", "ssm_encoder"],
            logger=False,
        )
        self.net = TaggerNet(
            input_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            attention=attention,
            projection_size=projection_size,
            ssm_encoder=ssm_encoder,
            ssm_channels=ssm_channels,
        )
        self.criterion = criterion
        self.decoder = decoder if decoder is not None else ArgmaxDecoder()
        self.optimizer_factory = optimizer
        self.scheduler_cfg = scheduler
        self.monitor = monitor
        self.metrics = nn.ModuleDict(
            {stage: build_metric_collection(f"{stage}/") for stage in ("val", "test")}
        )
        self.monitor_best = MinMetric() if monitor_mode == "min" else MaxMetric()
        #: Per-song outputs of the current validation epoch (read by image callbacks).
        self.val_songs: list[dict[str, Any]] = []
        #: Resolved features/model/loss/decoder config stored in checkpoints (see predict.py).
        self.run_config: dict[str, Any] | None = None

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

    def _evaluate(self, batch: dict[str, Any], stage: str) -> None:
        _, logits = self._loss(batch, stage)
        mask = batch["mask"]
        preds = self.decoder(logits, mask)
        probs = torch.softmax(logits.float(), dim=-1)[..., 1]
        target = batch["labels"].clamp(min=0)
        self.metrics[stage].update(preds=preds, target=target, mask=mask, probs=probs)
        if stage == "val":
            for b, song_id in enumerate(batch["ids"]):
                n = int(mask[b].sum())
                self.val_songs.append(
                    {
                        "id": song_id,
                        "probs": probs[b, :n].detach().cpu().numpy(),
                        "preds": preds[b, :n].cpu().numpy().astype(np.int64),
                        "target": target[b, :n].cpu().numpy(),
                    }
                )

    def on_validation_epoch_start(self) -> None:  # noqa: D102
        self.val_songs = []

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:  # noqa: D102
        self._evaluate(batch, "val")

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

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:  # noqa: D102
        if self.run_config is not None:
            checkpoint["lyricseg"] = {
                "config": self.run_config,
                "input_dim": self.hparams.input_dim,
            }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:  # noqa: D102
        stored = checkpoint.get("lyricseg")
        if stored is not None:
            self.run_config = stored["config"]

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


def attach_run_config(model: LyricsTagger, config: dict[str, Any]) -> None:
    """Remember what a checkpoint needs to rebuild the model without ``conf/``.

    ``config`` (resolved, plain containers) is written into every checkpoint under
    ``checkpoint["lyricseg"]["config"]`` by :meth:`LyricsTagger.on_save_checkpoint`.
    """
    model.run_config = config
