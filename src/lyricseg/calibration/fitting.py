"""Fit a calibrator on the validation songs and report what it does to calibration.

Decisions never change: the report compares ``P(chorus)`` before and after calibration with
the same decoded labels. Besides the in-sample figures (the calibrator scored on the songs it
was fitted on), the report holds a cross-fitted estimate: the songs are split into two
halves (even and odd positions), each half is calibrated by a calibrator fitted on the other,
and the two halves are scored together. That one is the honest estimate of what calibration
does on unseen songs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from lyricseg.calibration.base import Calibrator
from lyricseg.metrics import evaluate_songs
from lyricseg.utils import LyricsegError, get_logger

log = get_logger(__name__)

#: Calibration scores kept in the report, as named by ``lyricseg.metrics.evaluate_songs``.
REPORT_KEYS = ("ece", "mce", "conf_over_95")


def _stack(songs: Sequence[dict[str, Tensor]]) -> tuple[Tensor, Tensor, Tensor]:
    """Concatenate songs into ``(logits [N, 2], labels [N], groups [N])``; group = song position."""
    logits = torch.cat([s["logits"].detach().float().cpu() for s in songs])
    labels = torch.cat([s["labels"].detach().reshape(-1).long().cpu() for s in songs])
    groups = torch.cat(
        [torch.full((s["labels"].numel(),), i, dtype=torch.long) for i, s in enumerate(songs)]
    )
    return logits, labels, groups


def _fit(factory: Callable[[], Calibrator], songs: Sequence[dict[str, Tensor]]) -> Calibrator:
    logits, labels, groups = _stack(songs)
    return factory().fit(logits, labels, groups)


@torch.no_grad()
def _scores(songs: Sequence[dict[str, Tensor]], probs: Sequence[Tensor]) -> dict[str, float]:
    result = evaluate_songs(
        [s["preds"].tolist() for s in songs],
        [s["labels"].tolist() for s in songs],
        [p.tolist() for p in probs],
    )
    return {key: result[key] for key in REPORT_KEYS}


@torch.no_grad()
def cross_fitted_probs(
    factory: Callable[[], Calibrator], songs: Sequence[dict[str, Tensor]]
) -> list[Tensor] | None:
    """``P(chorus)`` of each song from a calibrator fitted on the other half of the songs.

    Args:
        factory: Returns a fresh, unfitted calibrator.
        songs: Dicts with ``logits`` ``[n, 2]`` and ``labels`` ``[n]``.

    Returns:
        One ``[n]`` tensor per song, in the order of ``songs``; ``None`` for fewer than two
        songs. Songs at even positions are calibrated by a fit on the odd ones and vice versa.
    """
    if len(songs) < 2:
        return None
    probs: dict[int, Tensor] = {}
    halves = (list(range(0, len(songs), 2)), list(range(1, len(songs), 2)))
    for fit_on, apply_to in (halves, halves[::-1]):
        calibrator = _fit(factory, [songs[i] for i in fit_on])
        for i in apply_to:
            probs[i] = calibrator(songs[i]["logits"].detach().float().cpu())
    return [probs[i] for i in range(len(songs))]


def fit_calibration(
    factory: Callable[[], Calibrator], songs: Sequence[dict[str, Tensor]]
) -> tuple[Calibrator, dict[str, Any]]:
    """Fit a calibrator on all songs and report ECE, MCE and over-confidence around it.

    Args:
        factory: Zero-argument callable returning a fresh, unfitted calibrator (for instance
            ``hydra.utils.instantiate(cfg.calibration, _partial_=True)``).
        songs: One dict per song: ``logits`` ``[n, 2]`` float, ``labels`` ``[n]`` long in
            ``{0, 1}``, ``preds`` ``[n]`` long decoded labels.

    Returns:
        ``(calibrator, report)``: the calibrator fitted on every line (songs passed as its
        ``groups``), and ``{"method": fitted calibrator's name, "fitted_on": "val",
        "n_lines": int, "before": scores, "after": scores, "after_cross_fitted": scores or
        None}`` where each ``scores`` is ``{"ece", "mce", "conf_over_95"}`` as floats and the
        cross-fitted scores are ``None`` for a single song.

    Raises:
        LyricsegError: Without songs, or on labels or logits a calibrator rejects.
    """
    if not songs:
        raise LyricsegError("cannot fit a calibrator on zero songs")
    calibrator = _fit(factory, songs)
    with torch.no_grad():
        raw = [s["logits"].detach().float().cpu().softmax(-1)[:, 1] for s in songs]
        calibrated = [calibrator(s["logits"].detach().float().cpu()) for s in songs]
    crossed = cross_fitted_probs(factory, songs)
    report = {
        "method": calibrator.to_dict()["name"],
        "fitted_on": "val",
        "n_lines": sum(int(s["labels"].numel()) for s in songs),
        "before": _scores(songs, raw),
        "after": _scores(songs, calibrated),
        "after_cross_fitted": None if crossed is None else _scores(songs, crossed),
    }
    log.info(
        "Calibration (%s) on val: ECE %.4f -> %.4f in-sample, %s cross-fitted",
        report["method"],
        report["before"]["ece"],
        report["after"]["ece"],
        "n/a" if crossed is None else f"{report['after_cross_fitted']['ece']:.4f}",
    )
    return calibrator, report
