"""The prediction task: read songs, tag them with :class:`~lyricseg.inference.Predictor`, write.

A checkpoint alone restores features, model, decoder and calibration. The records and their
formats (JSONL, table, tagged lyrics) are :mod:`lyricseg.inference.record`'s; a ``threshold``
on the calibrated probability replaces the model's decisions only when explicitly set. With
labelled input, the scores go to ``<output>.metrics.json`` beside the output.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig
from rich.progress import Progress

from lyricseg.data.batching import section_targets
from lyricseg.data.songs import Song, is_jsonl_path, read_songs
from lyricseg.inference import (
    CHUNK_SONGS,
    PredictionError,
    Predictor,
    Segmentation,
    format_jsonl,
    format_songs,
    model_path,
)
from lyricseg.metrics import evaluate_songs
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


def _check_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise PredictionError(f"{where} is not a finite number; nothing was written")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_finite(item, where)


def metrics_path(output: Path) -> Path:
    """Where the metrics of an output file go: ``<output>.metrics.json``."""
    return output.with_name(output.name + ".metrics.json")


@contextlib.contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on an interactive terminal for inputs of many songs; quiet otherwise."""
    if total <= CHUNK_SONGS or not sys.stderr.isatty():
        yield None
        return

    with Progress(transient=True) as bar:
        task = bar.add_task("Tagging songs", total=total)
        yield lambda done: bar.advance(task, done)


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Run prediction as configured by ``predict.yaml``.

    Returns:
        ``{"records": [Segmentation, ...], "metrics": dict | None, "output": Path | None}``.
    """
    if cfg.get("torch_threads"):
        torch.set_num_threads(cfg.torch_threads)
    ckpt = cfg.ckpt
    if isinstance(ckpt, ListConfig):  # ckpt=[a,b,c]: an ensemble
        ckpt = [str(p) for p in ckpt]
    output_format, output = _decide_output(cfg)
    if output is not None:  # before any work: never write over what the user gave
        models = [model_path(p) for p in (ckpt if isinstance(ckpt, list) else [ckpt])]
        check_outputs([cfg.input, *models], [output, metrics_path(output)])
    predictor = Predictor.from_checkpoint(ckpt, max_lines=cfg.max_lines, convention=cfg.convention)
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
    _check_finite([r.to_dict() for r in records], "a prediction")

    metrics = None
    if songs and all(s.labels is not None for s in songs):
        metrics = evaluate_songs(
            [list(r.labels) for r in records],
            [list(s.labels) for s in songs],
            [list(r.probs) for r in records],
        )
    if songs and all(s.sections is not None for s in songs) and records[0].sections is not None:
        metrics = {**(metrics or {}), **_section_metrics(songs, records)}
    if metrics is not None:
        _check_finite(metrics, "a metric")

    if output_format == "jsonl":
        text = format_jsonl(records)
    else:
        render = Segmentation.to_table if output_format == "table" else Segmentation.to_tagged
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


def _section_metrics(songs: list[Song], records: list[Segmentation]) -> dict[str, Any]:
    """Section scores of predictions against the input's ``sections`` (headers mapped)."""
    # Lazy: the section metrics module loads torchmetrics, which prediction does without
    # (tests/tasks/test_predict.py::test_prediction_does_not_import_lightning).
    from lyricseg.metrics.sections import evaluate_sections

    section_map = default_section_map()
    gold = [section_targets(song, section_map) for song in songs]
    # the model names its classes from its own list: today's map's, then any it adds
    predicted = {name for r in records for name in r.sections or ()}
    classes = [*section_map.classes, *sorted(predicted - set(section_map.classes))]
    pred_starts = []
    for record in records:
        flags = [0] * len(record)
        for i in record.section_starts or ():
            flags[i] = 1
        pred_starts.append(flags)
    scores = evaluate_sections(
        [[classes.index(c) for c in r.sections or ()] for r in records],
        [g[0].tolist() for g in gold],
        pred_starts,
        [g[1].tolist() for g in gold],
        classes=classes,
    )
    return {k: v for k, v in scores.items() if k not in ("n_songs", "n_lines")}


def _is_text(path: Any) -> bool:
    """Whether an input is named as plain text (a table is printed when no output is set)."""
    return str(path) == "-" or not is_jsonl_path(path)


@exit_on_user_error
def run(cfg: DictConfig) -> None:
    """Entry point behind the root ``predict.py`` shim."""
    predict(cfg)
