"""The LightningModule: tagger network, loss, decoder and metric collections."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric, MinMetric

from lyricseg.checkpoint import ModelRecord, embed
from lyricseg.metrics import build_metric_collection
from lyricseg.metrics.sections import build_section_metric_collection
from lyricseg.models.components import ArgmaxDecoder
from lyricseg.models.components.decoding import section_predictions
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.seeding import rng_states, set_rng_states

#: Log prefix of every val set scored together (with extra corpora).
POOLED = "val_all"


def labelled_mask(batch: dict[str, Any]) -> torch.Tensor:
    """``[B, T]`` bool: real lines with a verse/chorus label (unknown labels are -1)."""
    return batch["mask"] & (batch["labels"] >= 0)


class LyricsTagger(L.LightningModule):
    """Verse/chorus line tagger: an injected network, its loss, decoder and metrics.

    The network's architecture is its own config (``model.net``), so this module never
    repeats its arguments; what a checkpoint needs to rebuild the network comes from
    :mod:`lyricseg.checkpoint` through :attr:`record`.

    Args:
        net: The tagger network, ``(features [B,T,F], mask [B,T], ssm) -> logits [B,T,C]``
            (e.g. :class:`~lyricseg.models.components.TaggerNet`); its ``forward_heads``
            takes each song's verse/chorus convention (the batch's ``convention``).
        criterion: Loss called as ``criterion(logits[B,T,C], labels[B,T], mask[B,T])`` and
            returning ``(total, components)``.
        optimizer: Partial optimizer, called with the parameters.
        scheduler: Optional dict with ``scheduler`` (partial, called with the optimizer),
            ``interval`` and ``monitor``.
        decoder: Turns logits into labels (argmax when None).
        monitor: Name of the metric that selects the best epoch (best-so-far is logged as
            ``<monitor>_best`` and kept in checkpoints, so it survives a resume).
        monitor_mode: ``max`` or ``min``: whether a larger monitored value is better.
        head_weights: Weights of the section-class and section-start losses in the total
            (``{"section": w, "start": w}``), used when the net has section heads; lines
            without section labels never count.
        val_names: Log prefix of each validation set, the monitored main one first (see
            :attr:`~lyricseg.training.datamodule.LyricsDataModule.val_names`).
            With several, ``val_all/`` also scores them pooled (verse/chorus metrics), so
            ``monitor=val_all/boundary_f1`` selects the best epoch on every val song.
        break_dropout: Share of training songs whose stanza breaks are all hidden in each
            batch (for a net that reads breaks), so the model works without them.
        break_partial: Share of training songs told only some of their breaks: each break is
            kept with probability ``u ~ U(0, 1)`` drawn per song, and the song's input becomes
            partial (:func:`~lyricseg.data.batching.break_flags` with ``complete=False``:
            the kept breaks known, every other line unknown), so the model learns that a
            told break is evidence and an untold line is no answer. The other songs
            (``1 - break_dropout - break_partial``) keep all their breaks.
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
        head_weights: dict[str, float] | None = None,
        val_names: Sequence[str] = ("val",),
        break_dropout: float = 0.5,
        break_partial: float = 0.0,
    ):
        super().__init__()
        self.net = net
        self.criterion = criterion
        self.decoder = decoder if decoder is not None else ArgmaxDecoder()
        self.optimizer_factory = optimizer
        self.scheduler_cfg = scheduler
        self.monitor = monitor
        self.head_weights = {"section": 1.0, "start": 1.0, **(head_weights or {})}
        self.val_names = list(val_names)
        if min(break_dropout, break_partial) < 0 or break_dropout + break_partial > 1:
            raise LyricsegError(
                f"break_dropout ({break_dropout}) and break_partial ({break_partial}) must be "
                ">= 0 and add up to at most 1"
            )
        self.break_dropout = break_dropout
        #: Prefix of the pooled val metrics (None with one val set, or when a corpus has it).
        self.pooled = POOLED if len(self.val_names) > 1 and POOLED not in self.val_names else None
        self.val_stages = self.val_names + ([self.pooled] if self.pooled else [])
        self.break_partial = break_partial
        stages = [*self.val_stages, "test"]
        self.metrics = nn.ModuleDict({s: build_metric_collection(f"{s}/") for s in stages})
        classes = getattr(net, "section_classes", None)  # None: no section heads
        self.section_metrics = nn.ModuleDict(
            {s: build_section_metric_collection(f"{s}/", classes=classes) for s in stages}
            if classes is not None
            else {}
        )
        self.monitor_best = MinMetric() if monitor_mode == "min" else MaxMetric()
        self.monitor_best.persistent(True)
        #: What checkpoints store to rebuild the network (see :mod:`lyricseg.checkpoint`).
        self.record: ModelRecord | None = None

    def forward(
        self,
        features: torch.Tensor,
        mask: torch.Tensor,
        ssm: torch.Tensor | None = None,
        breaks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, T, C]`` for features ``[B, T, F]``, mask ``[B, T]``, SSMs, breaks."""
        return self.net(features, mask, ssm, breaks)

    def _head_losses(
        self, heads: dict[str, torch.Tensor], batch: dict[str, Any]
    ) -> dict[str, torch.Tensor]:
        """Section-class cross-entropy and section-start BCE over lines with known targets."""
        classes, starts = batch["classes"], batch["starts"]
        known = batch["mask"] & (classes >= 0)
        section = F.cross_entropy(heads["section"][known].float(), classes[known], reduction="sum")
        # Line 0 always starts a section: only later lines carry information.
        later = batch["mask"] & (starts >= 0)
        later[:, 0] = False
        start = F.binary_cross_entropy_with_logits(
            heads["start"][later].float(), starts[later].float(), reduction="sum"
        )
        return {
            "section": section / known.sum().clamp(min=1),
            "start": start / later.sum().clamp(min=1),
        }

    def _drop_breaks(self, breaks: torch.Tensor) -> torch.Tensor:
        """Training input ``[B, T, 2]``: per song all, none or a random subset of its breaks.

        A song draws a regime: all hidden (``break_dropout``), partial (``break_partial``:
        each break kept with probability ``u ~ U(0, 1)``; kept breaks ``(1, 1)``, every other
        line ``(0, 0)``, as :func:`~lyricseg.data.batching.break_flags` encodes partial
        breaks) or all told. Songs whose breaks are unknown stay unknown.
        """
        batch = breaks.shape[0]
        regime = torch.rand(batch, device=breaks.device)
        hidden = regime < self.break_dropout
        partial = (regime >= self.break_dropout) & (
            regime < self.break_dropout + self.break_partial
        )
        keep_share = torch.rand(batch, 1, device=breaks.device)
        told = (breaks[..., 0] > 0) & (torch.rand_like(breaks[..., 0]) < keep_share)
        told = told.to(breaks.dtype)[..., None].expand_as(breaks)
        breaks = torch.where(partial[:, None, None], told, breaks)
        return breaks.masked_fill(hidden[:, None, None], 0.0)

    def _loss(
        self, batch: dict[str, Any], stage: str
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        breaks = batch.get("breaks")
        if stage == "train" and breaks is not None and self.break_dropout + self.break_partial > 0:
            breaks = self._drop_breaks(breaks)
        # Each song reads (and trains) its own convention's verse/chorus head.
        heads = self.net.forward_heads(
            batch["features"], batch["mask"], batch.get("ssm"), breaks, batch.get("convention")
        )
        # Songs without verse/chorus labels (-1: e.g. a stanza corpus) train other heads only.
        total, components = self.criterion(
            heads["label"], batch["labels"].clamp(min=0), labelled_mask(batch)
        )
        if "section" in heads:
            for name, value in self._head_losses(heads, batch).items():
                total = total + self.head_weights[name] * value
                components = {**components, name: value}
        size = len(batch["ids"])
        # Epoch means under stable names (train/loss, train/loss/<component>, val/...).
        options = {"on_step": False, "on_epoch": True, "batch_size": size}
        options.update(sync_dist=stage != "train", add_dataloader_idx=False)
        self.log(f"{stage}/loss", total, prog_bar=stage in ("train", "val"), **options)
        for name, value in components.items():
            self.log(f"{stage}/loss/{name}", value, **options)
        return total, heads

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
        _, heads = self._loss(batch, stage)
        mask = batch["mask"]
        decoded = self.decoder.decode(heads, mask)
        preds = decoded["labels"]
        probs = torch.softmax(heads["label"].float(), dim=-1)[..., 1]
        target = batch["labels"].clamp(min=0)
        self.metrics[stage].update(
            preds=preds, target=target, mask=labelled_mask(batch), probs=probs
        )
        if stage in self.section_metrics:
            songs = batch["starts"][:, 0] >= 0  # songs whose sections are known
            if bool(songs.any()):
                pred_class, pred_start = section_predictions(heads, decoded, mask)
                self.section_metrics[stage].update(
                    pred_class=pred_class[songs],
                    target_class=batch["classes"][songs],
                    pred_start=pred_start[songs],
                    target_start=batch["starts"][songs].clamp(min=0),
                    mask=mask[songs],
                )
        return {"ids": batch["ids"], "probs": probs, "preds": preds, "target": target, "mask": mask}

    def validation_step(
        self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Any]:
        """Update one val set's metrics; return its ``ids``, ``probs``, ``preds``, ``target``."""
        out = self._evaluate(batch, self.val_names[dataloader_idx])
        if self.pooled:
            keys = ("preds", "target", "mask", "probs")
            self.metrics[self.pooled].update(**{k: out[k] for k in keys})
        return out

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:  # noqa: D102
        self._evaluate(batch, "test")

    def _log_metrics(self, stage: str) -> dict[str, torch.Tensor]:
        token = self.metrics[stage]["token"]
        # Summed over ranks, so all ranks agree whether this set carries labels.
        with token.sync_context(dist_sync_fn=token.dist_sync_fn, should_sync=token.sync_on_compute):
            labelled = int(token.confmat.sum()) > 0
        values = self.metrics[stage].compute() if labelled else {}
        self.metrics[stage].reset()
        if stage in self.section_metrics:
            sections = self.section_metrics[stage]
            # Synced on every rank, so all ranks agree whether this set carries sections.
            if int(sections["section_class"].confusion_matrix().sum()) > 0:
                values = {**values, **sections.compute()}
            sections.reset()
        self.log_dict(values, add_dataloader_idx=False)
        return values

    def on_validation_epoch_end(self) -> None:  # noqa: D102
        for stage in self.val_stages:
            values = self._log_metrics(stage)
            if self.monitor in values and not self.trainer.sanity_checking:
                self.monitor_best(values[self.monitor])
                self.log(f"{self.monitor}_best", self.monitor_best.compute())

    def on_test_epoch_end(self) -> None:  # noqa: D102
        self._log_metrics("test")

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
