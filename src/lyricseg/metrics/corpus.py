"""Scoring a whole corpus given as per-song lists, without torchmetrics.

:func:`evaluate_songs` adds up the same sum states as the metric collection
(:func:`lyricseg.metrics.build_metric_collection`), through the same
:mod:`lyricseg.metrics.functional` helpers, and gives the same scores. It exists apart from
the collection because importing torchmetrics costs about two seconds of start-up, which
``predict.py`` would pay for every labelled input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lyricseg.metrics.functional import (
    _boundary_compute,
    _boundary_update,
    _calibration_compute,
    _calibration_update,
    _segment_compute,
    _segment_update,
    _token_compute,
    _token_update,
    _window_compute,
    _window_update,
    check_inputs,
)
from lyricseg.utils import LyricsegError

#: Boundary tolerances (in lines) of ``boundary_f1_tol{k}``.
BOUNDARY_TOLERANCES = (1, 2)
#: Equal-width confidence bins of the calibration errors.
CALIBRATION_BINS = 15

#: Keys (without prefix) of the metric collection (``build_metric_collection``).
METRIC_KEYS = (
    "accuracy",
    "macro_f1",
    "verse_f1",
    "chorus_f1",
    "boundary_precision",
    "boundary_recall",
    "boundary_f1",
    "boundary_f1_tol1",
    "boundary_f1_tol2",
    "window_diff",
    "pk",
    "complete_segments",
    "segment_iou",
    "transition_recall_v2c",
    "transition_recall_c2v",
    "ece",
    "mce",
    "conf_over_95",
    "conf_over_90",
    "pred_chorus_rate",
)
#: Collection keys that a corpus report leaves out.
_NOT_REPORTED = (
    "transition_recall_v2c",
    "transition_recall_c2v",
    "conf_over_90",
    "pred_chorus_rate",
)
#: Keys returned by :func:`evaluate_songs`.
EVALUATE_KEYS = (*(k for k in METRIC_KEYS if k not in _NOT_REPORTED), "n_songs", "n_lines")


def _pad(rows: Sequence[Sequence[float]], dtype: torch.dtype) -> torch.Tensor:
    """Right-pad lists with zeros into a ``[len(rows), longest]`` tensor."""
    width = max((len(r) for r in rows), default=0)
    out = torch.zeros(len(rows), width, dtype=dtype)
    for i, row in enumerate(rows):
        if len(row):
            out[i, : len(row)] = torch.as_tensor(list(row), dtype=dtype)
    return out


def evaluate_songs(
    preds: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    probs: Sequence[Sequence[float]],
    batch_size: int = 64,
) -> dict[str, float]:
    """Score a corpus given as per-song lists (what ``predict`` writes next to its output).

    Songs are batched by length to keep padding small; the scores do not depend on the
    batching.

    Args:
        preds: Decided labels per song.
        targets: Gold labels per song.
        probs: ``P(chorus)`` per song.
        batch_size: Songs per internal batch.

    Returns:
        Exactly the keys of :data:`EVALUATE_KEYS`: scores as floats, ``n_songs`` and
        ``n_lines`` as ints.

    Raises:
        LyricsegError: When the lists disagree in number of songs or song lengths.
    """
    if not len(preds) == len(targets) == len(probs):
        raise LyricsegError(
            f"evaluate_songs got {len(preds)} predicted, {len(targets)} gold and "
            f"{len(probs)} probability lists; they must match"
        )
    for i, (p, t, q) in enumerate(zip(preds, targets, probs, strict=True)):
        if not len(p) == len(t) == len(q):
            raise LyricsegError(
                f"song {i}: {len(p)} predicted labels, {len(t)} gold labels, "
                f"{len(q)} probabilities; lengths must match"
            )
    states: list[torch.Tensor] | None = None
    order = sorted(range(len(preds)), key=lambda i: len(preds[i]))
    for start in range(0, max(len(order), 1), batch_size):  # no songs: one empty batch, zeros
        idx = order[start : start + batch_size]
        p = _pad([preds[i] for i in idx], torch.long)
        t = _pad([targets[i] for i in idx], torch.long)
        q = _pad([probs[i] for i in idx], torch.float32)
        lengths = torch.tensor([len(preds[i]) for i in idx])
        mask = torch.arange(p.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        check_inputs(p, t, mask, q)
        batch = [
            _token_update(p, t, mask),
            _boundary_update(p, t, mask, BOUNDARY_TOLERANCES),
            _window_update(p, t, mask),
            *_segment_update(p, t, mask),
            *_calibration_update(q, t, mask, CALIBRATION_BINS),
        ]
        states = batch if states is None else [a + b for a, b in zip(states, batch, strict=True)]
    assert states is not None
    token, boundary, window, segments, iou_sum, bins, tails = states
    scores = {
        **_token_compute(token),
        **_boundary_compute(boundary, BOUNDARY_TOLERANCES),
        **_window_compute(window),
        **_segment_compute(segments, iou_sum),
        **_calibration_compute(bins, tails),
    }
    out: dict[str, float] = {k: float(scores[k]) for k in EVALUATE_KEYS[:-2]}
    out["n_songs"] = len(preds)
    out["n_lines"] = sum(len(p) for p in preds)
    return out
