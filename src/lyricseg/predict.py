"""The prediction task: a checkpoint alone restores features, model, decoder and calibration.

Output records (JSONL, input order)::

    {"id": ..., "lines": [...], "labels": [0|1 per line], "probs": [P(chorus) per line],
     "sections": [class name per line], "section_starts": [line indices], "breaks": [...],
     "given_sections": [header as written per line] | null}

``sections``/``section_starts`` come from a model with section heads; ``breaks`` repeat the
input's stanza breaks when it had any; ``given_sections`` are the input's own headers (the
header lines of a text, or a record's ``sections``), null when it had none. Labels are the
model's own decisions (argmax or its configured decoder); ``probs`` are calibrated when the
checkpoint carries a calibrator. A ``threshold`` on the calibrated probability replaces the
decisions only when explicitly set.
This module owns the output formats: JSONL records, the table and tagged lyrics.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig

from lyricseg.checkpoint import PRETRAINED, ModelRecord, load_model, pretrained_path
from lyricseg.data.batching import SongDataset, collate_songs
from lyricseg.data.featurize import featurize_songs
from lyricseg.data.songs import Song, read_songs
from lyricseg.sections import default_section_map
from lyricseg.utils.errors import LyricsegError, exit_on_user_error
from lyricseg.utils.io import (
    atomic_write_files,
    check_outputs,
    json_text,
    remove_output,
)
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)

#: Default limit on lines per song: memory and time grow with the square of a song's length.
MAX_LINES = 5000
#: Songs featurized and tagged per step (bounds memory; one progress-bar step each).
CHUNK_SONGS = 256


class PredictionError(LyricsegError):
    """Songs that cannot be tagged as given (too long, or the model produced non-finite output)."""


@dataclass
class Predictor:
    """A restored tagger ready to label songs.

    Only the network, the decoder, the feature extractor and the calibrator are rebuilt (no
    LightningModule, no loss), which keeps a cold start to the imports torch itself needs.

    Attributes:
        net: The tagger network in eval mode.
        decoder: Turns logits into labels (the model's configured decoder).
        features: The feature extractor the model was trained with.
        calibrator: Maps logits ``[..., C]`` to calibrated P(chorus) ``[...]``, or None.
        record: What the checkpoint stores about the model (versions, configs).
        max_lines: Longest song accepted; longer ones are an error naming the song.
    """

    net: Any
    decoder: Any
    features: Any
    calibrator: Any | None
    record: ModelRecord | None = None
    max_lines: int = MAX_LINES

    @classmethod
    def from_checkpoint(
        cls, path: str | Path | Sequence[str | Path] | None = None, max_lines: int = MAX_LINES
    ) -> Predictor:
        """Rebuild everything from a checkpoint (the shipped model when ``path`` is None).

        Several paths make an ensemble (:class:`~lyricseg.models.components.ensemble.EnsembleNet`):
        models trained on the same features with the same decoder, their probabilities
        averaged head by head and their calibrated P(chorus) averaged.

        Raises:
            LyricsegError: When a file is missing, unreadable, unsafe or not a compatible
                lyricseg checkpoint, or the models of an ensemble do not fit together.
        """
        paths = [path] if path is None or isinstance(path, str | Path) else list(path)
        if not paths:
            raise LyricsegError("ckpt=[] names no checkpoint")
        models = [load_model(pretrained_path() if p is None else p) for p in paths]
        first = models[0]
        if len(models) == 1:
            return cls(first.net, first.decoder, first.features, first.calibrator, first.record,
                       max_lines)  # fmt: skip
        from lyricseg.models.components.ensemble import EnsembleNet

        first_classes = getattr(first.net, "section_classes", None)
        for model in models[1:]:
            for what in ("features", "decoder"):
                if getattr(model.record, what) != getattr(first.record, what):
                    raise LyricsegError(
                        f"{model.path} and {first.path} were built with other {what}; the "
                        f"models of an ensemble need the same {what}"
                    )
            if getattr(model.net, "section_classes", None) != first_classes:
                raise LyricsegError(
                    f"{model.path} and {first.path} name other section classes; the models "
                    "of an ensemble need the same section classes"
                )
        net = EnsembleNet([m.net for m in models], [m.calibrator for m in models]).eval()
        return cls(net, first.decoder, first.features, None, first.record, max_lines)

    @property
    def section_classes(self) -> tuple[str, ...] | None:
        """The model's own section class names (from its checkpoint), None without heads."""
        return getattr(self.net, "section_classes", None)

    def check(self, songs: list[Song]) -> None:
        """Refuse songs longer than :attr:`max_lines`, naming the first one.

        Raises:
            PredictionError: For the first song over the limit.
        """
        for song in songs:
            if len(song) > self.max_lines:
                raise PredictionError(
                    f"song '{song.id}' has {len(song)} lines; the limit is {self.max_lines} "
                    "(max_lines=N raises it, at a cost in memory and time that grows with the "
                    "square of the length)"
                )

    @torch.no_grad()
    def predict(
        self,
        songs: list[Song],
        batch_size: int = 16,
        threshold: float | None = None,
        workers: int = 1,
        progress: Callable[[int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Label every line of the songs.

        Args:
            songs: Songs to tag (labels, if any, are ignored here).
            batch_size: Songs per forward pass.
            threshold: Optional decision threshold on the (calibrated) P(chorus).
            workers: Processes for featurizing many songs (used from 64 songs on).
            progress: Called with the number of songs done after each chunk.

        Returns:
            One record per song, in order: ``id``, ``lines``, ``labels``, ``probs``.

        Raises:
            PredictionError: For a song over :attr:`max_lines`, or non-finite model output
                (nothing is returned then).
        """
        self.check(songs)
        records: list[dict[str, Any]] = []
        for start in range(0, len(songs), CHUNK_SONGS):
            chunk = songs[start : start + CHUNK_SONGS]
            records += self._predict_chunk(chunk, batch_size, threshold, workers)
            if progress is not None:
                progress(len(chunk))
        return records

    def _predict_chunk(
        self, songs: list[Song], batch_size: int, threshold: float | None, workers: int
    ) -> list[dict[str, Any]]:
        from lyricseg.models.inference import collect_outputs

        dataset = SongDataset(songs, featurize_songs(songs, self.features, workers))
        order = sorted(range(len(songs)), key=lambda i: len(songs[i]))
        batches = (
            collate_songs([dataset[i] for i in order[s : s + batch_size]])
            for s in range(0, len(order), batch_size)
        )
        records: list[dict[str, Any]] = [{} for _ in songs]
        for out in collect_outputs(self.net, self.decoder, batches):
            song = songs[out["index"]]
            logits = out["logits"]
            if "probs" in out:  # an ensemble's averaged calibrated probabilities
                probs = out["probs"]
            elif self.calibrator is not None:
                probs = self.calibrator(logits)
            else:
                probs = torch.softmax(logits, dim=-1)[:, 1]
            if not bool(torch.isfinite(probs).all()):
                raise PredictionError(
                    f"song '{song.id}': the model produced non-finite probabilities; "
                    "nothing was written (is the checkpoint damaged?)"
                )
            labels = out["preds"] if threshold is None else (probs >= threshold).long()
            record = {
                "id": song.id,
                "lines": list(song.lines),
                "labels": labels.tolist(),
                "probs": [round(p, 6) for p in probs.tolist()],
            }
            if "classes" in out:
                names = self.section_classes
                record["sections"] = [names[c] for c in out["classes"].tolist()]
                record["section_starts"] = out["starts"].nonzero().flatten().tolist()
            if song.breaks is not None:
                record["breaks"] = list(song.breaks)
            record["given_sections"] = None if song.sections is None else list(song.sections)
            records[out["index"]] = record
        return records


def format_table(record: dict[str, Any]) -> str:
    """A readable table of one song's predictions.

    With a section column when predicted, and a ``given`` column (the input's own headers,
    cut to 16 characters) when the input had headers.
    """
    sections = record.get("sections")
    given = record.get("given_sections")
    head = f"{'#':>4}  {'label':<6} {'P(chorus)':>9}  "
    head += f"{'section':<11} " if sections else ""
    head += f"{'given':<16} " if given else ""
    rows = [head + "line"]
    for i, (line, label, prob) in enumerate(
        zip(record["lines"], record["labels"], record["probs"], strict=True)
    ):
        row = f"{i + 1:>4}  {('chorus' if label else 'verse'):<6} {prob:>9.3f}  "
        if sections:
            row += f"{sections[i]:<11} "
        if given:
            row += f"{given[i][:16]:<16} "
        rows.append(row + line)
    return "\n".join(rows)


def section_spans(record: dict[str, Any]) -> list[tuple[str, int, int]]:
    """A song's sections as ``(class name, first line, end)`` spans.

    From the predicted ``sections``/``section_starts`` when present, else from the
    verse/chorus labels (each run of equal labels is a verse or a chorus).
    """
    n = len(record["lines"])
    if record.get("sections") is not None:
        names = record["sections"]
        starts = sorted(set(record.get("section_starts") or []) | {0})
    else:  # label 1 reads as the map's first chorus class, label 0 as its first numbered one
        section_map = default_section_map()
        chorus = next(c for c in section_map.classes if c in section_map.chorus_classes)
        verse = next(c for c in section_map.classes if c in section_map.numbered_classes)
        names = [chorus if label else verse for label in record["labels"]]
        starts = [i for i in range(n) if i == 0 or record["labels"][i] != record["labels"][i - 1]]
    ends = [*starts[1:], n]
    return [(names[a], a, b) for a, b in zip(starts, ends, strict=True) if a < n]


def format_tagged(record: dict[str, Any]) -> str:
    """Lyrics with a header above each section (``[Verse 1]``, ``[Chorus]``, …).

    Sections are separated by a blank line; numbered classes (verses) count up.
    """
    section_map = default_section_map()
    counts: dict[str, int] = {}
    blocks = []
    for name, start, end in section_spans(record):
        counts[name] = counts.get(name, 0) + 1
        header = section_map.header(name, counts[name])
        blocks.append("\n".join([f"[{header}]", *record["lines"][start:end]]))
    return "\n\n".join(blocks) + "\n"


def format_songs(records: Sequence[dict[str, Any]], render: Callable[[dict[str, Any]], str]) -> str:
    """Songs as one text, each rendered by ``render`` (:func:`format_table`, :func:`format_tagged`).

    One song is its rendering alone. Several are separated by a blank line, each under a
    ``==> <id> <==`` line (as ``head`` separates files), so that they can be told apart.
    """
    texts = [render(r).rstrip("\n") for r in records]
    if len(records) > 1:
        texts = [f"==> {r['id']} <==\n{text}" for r, text in zip(records, texts, strict=True)]
    return "\n\n".join(texts) + "\n"


def _check_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise PredictionError(f"{where} is not a finite number; nothing was written")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_finite(item, where)


def format_jsonl(records: list[dict[str, Any]]) -> str:
    """Prediction records as strict JSONL (no NaN/inf), one line per record."""
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)


def write_predictions(path: Path, records: list[dict[str, Any]]) -> None:
    """Write prediction records as strict JSONL (no NaN/inf), atomically."""
    atomic_write_files({path: format_jsonl(records)})


def metrics_path(output: Path) -> Path:
    """Where the metrics of an output file go: ``<output>.metrics.json``."""
    return output.with_name(output.name + ".metrics.json")


@contextlib.contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on an interactive terminal for inputs of many songs; quiet otherwise."""
    if total <= CHUNK_SONGS or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("Tagging songs", total=total)
        yield lambda done: bar.advance(task, done)


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Run prediction as configured by ``predict.yaml``.

    Returns:
        ``{"records": [...], "metrics": dict | None, "output": Path | None}``.
    """
    if cfg.get("torch_threads"):
        torch.set_num_threads(cfg.torch_threads)
    ckpt = cfg.ckpt
    if isinstance(ckpt, ListConfig):  # ckpt=[a,b,c]: an ensemble
        ckpt = [str(p) for p in ckpt]
    output_format, output = _decide_output(cfg)
    if output is not None:  # before any work: never write over what the user gave
        models = ckpt if isinstance(ckpt, list) else [ckpt or PRETRAINED]
        check_outputs([cfg.input, *models], [output, metrics_path(output)])
    predictor = Predictor.from_checkpoint(ckpt, max_lines=cfg.max_lines)
    songs = read_songs(cfg.input, require_labels=False, headers=cfg.headers)
    predictor.check(songs)
    with _progress_bar(len(songs)) as progress:
        records = predictor.predict(
            songs,
            batch_size=cfg.batch_size,
            threshold=cfg.threshold,
            workers=cfg.featurize_workers,
            progress=progress,
        )
    _check_finite(records, "a prediction")

    metrics = None
    if songs and all(s.labels is not None for s in songs):
        from lyricseg.metrics import evaluate_songs

        metrics = evaluate_songs(
            [r["labels"] for r in records],
            [list(s.labels) for s in songs],
            [r["probs"] for r in records],
        )
    if songs and all(s.sections is not None for s in songs) and "sections" in records[0]:
        metrics = {**(metrics or {}), **_section_metrics(songs, records)}
    if metrics is not None:
        _check_finite(metrics, "a metric")

    if output_format == "jsonl":
        text = format_jsonl(records)
    else:
        render = format_table if output_format == "table" else format_tagged
        text = format_songs(records, render)
    if output is None:
        sys.stdout.write(text)
    else:
        # The metrics file always belongs to the output beside it: written with it (all or
        # nothing) or removed.
        files = {output: text}
        if metrics is not None:
            files[metrics_path(output)] = json_text(metrics)
        atomic_write_files(files)
        if metrics is None:
            remove_output(metrics_path(output))
        log.info("Wrote %d songs to %s", len(records), output)
    if metrics is not None and "macro_f1" in metrics:
        summary = ", ".join(
            f"{k} {metrics[k]:.4f}" for k in ("macro_f1", "boundary_f1", "window_diff", "ece")
        )
        log.info("%d songs, %d lines: %s", len(songs), metrics["n_lines"], summary)
    return {"records": records, "metrics": metrics, "output": output}


#: Output formats: ``auto`` is a table for text input without ``output=``, else JSONL.
FORMATS = ("auto", "jsonl", "table", "tagged")


def _decide_output(cfg: DictConfig) -> tuple[str, Path | None]:
    """The output format and file (None: standard output) that ``cfg`` asks for."""
    output_format = cfg.get("format", "auto")
    if output_format not in FORMATS:
        raise LyricsegError(f"format={output_format!r}: choose one of {', '.join(FORMATS)}")
    output = Path(cfg.output) if cfg.output else None
    if output_format == "auto":
        output_format = "table" if output is None and _is_text(cfg.input) else "jsonl"
    if output is None and output_format == "jsonl":
        output = Path(cfg.paths.output_dir) / f"{Path(str(cfg.input)).stem}.predictions.jsonl"
    return output_format, output


def _section_metrics(songs: list[Song], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Section scores of predictions against the input's ``sections`` (headers mapped)."""
    from lyricseg.data.batching import section_targets
    from lyricseg.metrics.sections import evaluate_sections

    section_map = default_section_map()
    gold = [section_targets(song, section_map) for song in songs]
    # the model names its classes from its own list: today's map's, then any it adds
    predicted = {name for r in records for name in r["sections"]}
    classes = [*section_map.classes, *sorted(predicted - set(section_map.classes))]
    pred_starts = []
    for record in records:
        flags = [0] * len(record["lines"])
        for i in record["section_starts"]:
            flags[i] = 1
        pred_starts.append(flags)
    scores = evaluate_sections(
        [[classes.index(c) for c in r["sections"]] for r in records],
        [g[0].tolist() for g in gold],
        pred_starts,
        [g[1].tolist() for g in gold],
        classes=classes,
    )
    return {k: v for k, v in scores.items() if k not in ("n_songs", "n_lines")}


def _is_text(path: Any) -> bool:
    """Whether an input is named as plain text (a table is printed when no output is set)."""
    from lyricseg.data.songs import is_jsonl_path

    return str(path) == "-" or not is_jsonl_path(path)


@exit_on_user_error
def run(cfg: DictConfig) -> None:
    """Entry point behind the root ``predict.py`` shim."""
    predict(cfg)
