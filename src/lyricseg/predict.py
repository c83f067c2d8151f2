"""The prediction task: a checkpoint alone restores features, model, decoder and calibration.

Output records (JSONL, input order)::

    {"id": ..., "lines": [...], "labels": [0|1 per line], "probs": [P(chorus) per line]}

Labels are the model's own decisions (argmax or its configured decoder); ``probs`` are
calibrated when the checkpoint carries a calibrator. A ``threshold`` on the calibrated
probability replaces the decisions only when explicitly set.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from lyricseg.data.batching import SongDataset, collate_songs
from lyricseg.data.featurize import featurize_songs
from lyricseg.data.songs import Song, read_songs
from lyricseg.models.components import ArgmaxDecoder, build_net
from lyricseg.utils.errors import LyricsegError, exit_on_user_error
from lyricseg.utils.io import atomic_write, atomic_write_json
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)


@dataclass
class Predictor:
    """A restored tagger ready to label songs.

    Only the network, the decoder, the feature extractor and the calibrator are rebuilt (no
    LightningModule, no loss), which keeps a cold start to the imports torch itself needs.

    Attributes:
        net: The :class:`~lyricseg.models.components.TaggerNet` in eval mode.
        decoder: Turns logits into labels (the model's configured decoder).
        features: The feature extractor the model was trained with.
        calibrator: Maps logits ``[..., C]`` to calibrated P(chorus) ``[...]``, or None.
    """

    net: Any
    decoder: Any
    features: Any
    calibrator: Any | None

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Predictor:
        """Rebuild everything from a checkpoint written by ``train.py``.

        Raises:
            LyricsegError: When the file is missing, unreadable or not a lyricseg checkpoint.
        """
        path = Path(path)
        if not path.is_file():
            raise LyricsegError(f"checkpoint not found: {path}")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:
            raise LyricsegError(f"cannot read checkpoint {path}: {err}") from None
        stored = checkpoint.get("lyricseg") if isinstance(checkpoint, dict) else None
        if not stored or "config" not in stored or "state_dict" not in checkpoint:
            raise LyricsegError(f"{path} is not a lyricseg checkpoint (no stored configuration)")
        config = DictConfig(stored["config"])
        features = instantiate(config.features)
        net = build_net(config.model, stored["input_dim"], len(features.ssm_views))
        weights = {
            k.removeprefix("net."): v
            for k, v in checkpoint["state_dict"].items()
            if k.startswith("net.")
        }
        try:
            net.load_state_dict(weights)
        except RuntimeError as err:
            raise LyricsegError(f"checkpoint {path} does not match its own model: {err}") from None
        net.eval()
        decoder = instantiate(config.decoder) if config.get("decoder") else ArgmaxDecoder()
        calibrator = None
        if stored.get("calibrator"):
            from lyricseg.calibration import calibrator_from_dict

            calibrator = calibrator_from_dict(stored["calibrator"])
        return cls(net=net, decoder=decoder, features=features, calibrator=calibrator)

    @torch.no_grad()
    def predict(
        self,
        songs: list[Song],
        batch_size: int = 16,
        threshold: float | None = None,
        workers: int = 1,
    ) -> list[dict[str, Any]]:
        """Label every line of the songs.

        Args:
            songs: Songs to tag (labels, if any, are ignored here).
            batch_size: Songs per forward pass.
            threshold: Optional decision threshold on the (calibrated) P(chorus).
            workers: Processes for featurizing many songs (used from 64 songs on).

        Returns:
            One record per song, in order: ``id``, ``lines``, ``labels``, ``probs``.
        """
        from lyricseg.models.inference import collect_outputs

        dataset = SongDataset(songs, featurize_songs(songs, self.features, workers))
        order = sorted(range(len(songs)), key=lambda i: len(songs[i]))
        batches = (
            collate_songs([dataset[i] for i in order[s : s + batch_size]])
            for s in range(0, len(order), batch_size)
        )
        records: list[dict[str, Any]] = [{} for _ in songs]
        for out in collect_outputs(self.net, self.decoder, batches):
            logits = out["logits"]
            if self.calibrator is not None:
                probs = self.calibrator(logits)
            else:
                probs = torch.softmax(logits, dim=-1)[:, 1]
            labels = out["preds"] if threshold is None else (probs >= threshold).long()
            song = songs[out["index"]]
            records[out["index"]] = {
                "id": song.id,
                "lines": list(song.lines),
                "labels": labels.tolist(),
                "probs": [round(p, 6) for p in probs.tolist()],
            }
        return records


def format_table(record: dict[str, Any]) -> str:
    """A readable table of one song's predictions."""
    rows = [f"{'#':>4}  {'label':<6} {'P(chorus)':>9}  line"]
    for i, (line, label, prob) in enumerate(
        zip(record["lines"], record["labels"], record["probs"], strict=True), start=1
    ):
        rows.append(f"{i:>4}  {('chorus' if label else 'verse'):<6} {prob:>9.3f}  {line}")
    return "\n".join(rows)


def write_predictions(path: Path, records: list[dict[str, Any]]) -> None:
    """Write prediction records as JSONL, atomically."""
    import json

    with atomic_write(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Run prediction as configured by ``predict.yaml``.

    Returns:
        ``{"records": [...], "metrics": dict | None, "output": Path | None}``.
    """
    predictor = Predictor.from_checkpoint(cfg.ckpt)
    songs = read_songs(cfg.input, require_labels=False)
    records = predictor.predict(
        songs, batch_size=cfg.batch_size, threshold=cfg.threshold, workers=cfg.featurize_workers
    )
    output = Path(cfg.output) if cfg.output else None
    text_input = not str(cfg.input).endswith(".jsonl")
    if output is None and not text_input:
        output = Path(cfg.paths.output_dir) / f"{Path(cfg.input).stem}.predictions.jsonl"
    if output is not None:
        write_predictions(output, records)
        log.info("Wrote %d songs to %s", len(records), output)
    else:
        sys.stdout.write("\n\n".join(format_table(r) for r in records) + "\n")

    metrics = None
    labelled = [s for s in songs if s.labels is not None]
    if labelled and len(labelled) == len(songs):
        from lyricseg.metrics import evaluate_songs

        metrics = evaluate_songs(
            [r["labels"] for r in records],
            [list(s.labels) for s in songs],
            [r["probs"] for r in records],
        )
        if output is not None:
            atomic_write_json(output.with_name(output.name + ".metrics.json"), metrics)
        summary = ", ".join(
            f"{k} {metrics[k]:.4f}" for k in ("macro_f1", "boundary_f1", "window_diff", "ece")
        )
        print(f"{len(songs)} songs, {metrics['n_lines']} lines: {summary}", file=sys.stderr)
    return {"records": records, "metrics": metrics, "output": output}


@exit_on_user_error
def run(cfg: DictConfig) -> None:
    """Entry point behind the root ``predict.py`` shim."""
    predict(cfg)
