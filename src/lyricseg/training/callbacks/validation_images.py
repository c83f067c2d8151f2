"""Validation figures for TensorBoard: reliability diagram, confusion matrix, label strips."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from lyricseg.calibration import reliability_data
from lyricseg.utils import get_logger

log = get_logger(__name__)

_LABEL_CMAP = ListedColormap(["#4c72b0", "#dd8452"])  # verse, chorus


def _concat(songs: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    arrays = [np.asarray(song[key]).reshape(-1) for song in songs]
    return np.concatenate(arrays) if arrays else np.zeros(0)


def reliability_figure(probs: np.ndarray, target: np.ndarray, n_bins: int = 15) -> Figure:
    """Reliability diagram of ``P(chorus)`` (confidence of the more probable class).

    Args:
        probs: ``[N]`` ``P(chorus)`` of all validation lines.
        target: ``[N]`` gold labels.
        n_bins: Equal-width confidence bins.

    Returns:
        A matplotlib figure (not attached to pyplot).
    """
    data = reliability_data(probs, target, n_bins=n_bins)
    fig = Figure(figsize=(5, 5), dpi=80)
    ax = fig.add_subplot(1, 1, 1)
    width = 1.0 / n_bins
    filled = data["counts"] > 0
    ax.bar(
        data["bin_centers"][filled],
        data["accuracies"][filled],
        width=width,
        edgecolor="black",
        alpha=0.8,
        label="accuracy",
    )
    ax.plot(data["confidences"][filled], data["accuracies"][filled], "o", color="black", ms=3)
    ax.plot([0.5, 1], [0.5, 1], "--", color="gray", label="perfect calibration")
    ax.set_xlim(0.5, 1)  # the decided class always has confidence >= 0.5
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence of the decided class")
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE {data['ece']:.3f}  MCE {data['mce']:.3f}  ({int(filled.sum())} bins)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def confusion_figure(preds: np.ndarray, target: np.ndarray) -> Figure:
    """Row-normalised 2x2 verse/chorus confusion matrix with counts.

    Args:
        preds: ``[N]`` decided labels.
        target: ``[N]`` gold labels.

    Returns:
        A matplotlib figure.
    """
    counts = np.zeros((2, 2), dtype=np.int64)
    np.add.at(counts, (target.astype(np.int64), preds.astype(np.int64)), 1)
    return matrix_figure(counts, ["verse", "chorus"])


def matrix_figure(counts: np.ndarray, names: Sequence[str]) -> Figure:
    """Row-normalised confusion matrix (rows gold, columns predicted) with counts.

    Args:
        counts: ``[C, C]`` line counts.
        names: The ``C`` class names.

    Returns:
        A matplotlib figure; a gold class without lines has an empty row.
    """
    counts = np.asarray(counts, dtype=np.int64)
    c = len(names)
    rows = counts.sum(1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros((c, c)), where=rows > 0)
    size = max(4.0, 0.9 * c + 1.5)
    fig = Figure(figsize=(size, size), dpi=80)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(c), names, rotation=45 if c > 2 else 0, ha="right" if c > 2 else "center")
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    small = {"fontsize": 7} if c > 2 else {}
    for t in range(c):
        for p in range(c):
            color = "white" if share[t, p] > 0.5 else "black"
            text = f"{counts[t, p]}\n{share[t, p]:.2f}"
            ax.text(p, t, text, ha="center", va="center", c=color, **small)
    fig.tight_layout()
    return fig


def label_strips_figure(songs: Sequence[Mapping[str, Any]]) -> Figure:
    """Gold and predicted label strips, with ``P(chorus)`` drawn over the prediction.

    Args:
        songs: Dicts with ``id``, ``probs`` ``[n]``, ``preds`` ``[n]`` and ``target`` ``[n]``.

    Returns:
        A matplotlib figure with one panel per song.
    """
    fig = Figure(figsize=(10, 1.3 * max(len(songs), 1) + 0.4), dpi=80)
    axes = fig.subplots(max(len(songs), 1), 1, squeeze=False)[:, 0]
    for ax, song in zip(axes, songs, strict=False):
        target = np.asarray(song["target"]).reshape(1, -1)
        preds = np.asarray(song["preds"]).reshape(1, -1)
        probs = np.asarray(song["probs"], dtype=float).reshape(-1)
        n = target.shape[1]
        strips = np.concatenate([target, preds], axis=0)
        ax.imshow(strips, aspect="auto", cmap=_LABEL_CMAP, vmin=0, vmax=1,
                  extent=(-0.5, n - 0.5, 1.5, -0.5), interpolation="nearest")  # fmt: skip
        # P(chorus) runs across the predicted row: bottom edge 0, top edge 1
        ax.plot(np.arange(n), 1.5 - probs, color="black", lw=1)
        ax.set_yticks([0, 1], ["gold", "pred"])
        ax.set_xlim(-0.5, n - 0.5)
        accuracy = float((target == preds).mean()) if n else 0.0
        ax.set_title(f"{song.get('id', '?')}  ({n} lines, accuracy {accuracy:.2f})", fontsize=9)
    axes[-1].set_xlabel("line (blue verse, orange chorus; black line P(chorus) on pred row)")
    fig.tight_layout()
    return fig


#: Keys ``validation_step`` must return for the callback to collect songs.
OUTPUT_KEYS = ("ids", "probs", "preds", "target", "mask")


class ValidationImages(Callback):
    """Log validation figures to TensorBoard every few epochs (global rank zero only).

    The callback collects what it draws itself, only on epochs it will draw: after each batch
    of the first validation dataloader it keeps the real lines of every song from the
    module's ``validation_step`` output, a dict with ``ids`` (list of B str), and ``probs``
    (``P(chorus)``, float), ``preds``, ``target`` (long) and ``mask`` (bool), each ``[B, T]``.
    On a multi-process run, rank zero draws from the songs it validated. Figures go to every
    ``TensorBoardLogger`` under ``val/reliability_diagram``, ``val/confusion_matrix`` and
    ``val/label_strips``; other loggers are skipped. Every validation set whose songs carry
    sections also gets ``<set>/section_confusion_matrix`` (the section-class confusion
    matrix of the module's ``section_metrics``, over all of that set's songs); its counts
    are summed over processes, so every rank takes part in drawing epochs.

    Args:
        every_n_epochs: Log on epochs 0, N, 2N, ... (0-based).
        n_songs: Songs drawn as label strips (the first ones of the validation order, so the
            same songs are shown every time).
        n_bins: Bins of the reliability diagram.

    Attributes:
        songs: Songs collected this epoch: ``{"id": str, "probs": ndarray[n] float,
            "preds": ndarray[n] int, "target": ndarray[n] int}``, in validation order.
    """

    def __init__(self, every_n_epochs: int = 5, n_songs: int = 4, n_bins: int = 15) -> None:
        super().__init__()
        self.every_n_epochs = max(int(every_n_epochs), 1)
        self.n_songs = int(n_songs)
        self.n_bins = int(n_bins)
        self.songs: list[dict[str, Any]] = []
        self._collecting = False
        self._warned = False

    @staticmethod
    def _writers(trainer: Trainer) -> list[Any]:
        return [lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]

    def _due(self, trainer: Trainer) -> bool:
        return (
            not trainer.sanity_checking
            and trainer.is_global_zero
            and trainer.current_epoch % self.every_n_epochs == 0
            and bool(self._writers(trainer))
        )

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start an empty collection; collect at all only when this epoch will be drawn."""
        self.songs = []
        self._collecting = self._due(trainer)

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep the real lines of each song of the batch (first dataloader, due epochs)."""
        if not self._collecting or dataloader_idx != 0:
            return
        if not isinstance(outputs, Mapping) or any(k not in outputs for k in OUTPUT_KEYS):
            if not self._warned:
                got = sorted(outputs) if isinstance(outputs, Mapping) else type(outputs).__name__
                log.warning(
                    "ValidationImages needs validation_step to return a dict with %s, got %s; "
                    "no validation images",
                    ", ".join(OUTPUT_KEYS),
                    got,
                )
                self._warned = True
            self._collecting = False
            return
        lengths = outputs["mask"].sum(dim=1).tolist()
        probs = outputs["probs"].detach().float().cpu().numpy()
        preds = outputs["preds"].detach().cpu().numpy()
        target = outputs["target"].detach().cpu().numpy()
        for b, n in enumerate(lengths):
            if n:
                self.songs.append(
                    {
                        "id": str(outputs["ids"][b]),
                        "probs": probs[b, :n],
                        "preds": preds[b, :n],
                        "target": target[b, :n],
                    }
                )

    def _section_figures(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        """Section confusion figures of each val set with sections (every rank sums counts)."""
        if trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return {}
        figures = {}
        for stage, metrics in getattr(pl_module, "section_metrics", {}).items():
            if stage == "test":
                continue
            classes = metrics["section_class"].classes  # the model's own section classes
            counts = metrics["section_class"].confusion_matrix().cpu().numpy()
            if counts.sum() > 0:
                figures[f"{stage}/section_confusion_matrix"] = lambda m=counts, c=classes: (
                    matrix_figure(m, c)
                )
        return figures

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Draw and log the figures when this epoch is due."""
        sections = self._section_figures(trainer, pl_module)
        if sections and self._collecting:
            for writer in self._writers(trainer):
                for tag, make in sections.items():
                    writer.add_figure(tag, make(), global_step=trainer.global_step)
        if not self._collecting:
            return
        self._collecting = False
        if not self.songs:
            log.debug("no validation songs collected; skipping validation images")
            return
        songs = self.songs
        probs, preds, target = (_concat(songs, k) for k in ("probs", "preds", "target"))
        figures = {
            "val/reliability_diagram": lambda: reliability_figure(probs, target, self.n_bins),
            "val/confusion_matrix": lambda: confusion_figure(preds, target),
            "val/label_strips": lambda: label_strips_figure(songs[: self.n_songs]),
        }
        for writer in self._writers(trainer):
            for tag, make in figures.items():
                writer.add_figure(tag, make(), global_step=trainer.global_step)
