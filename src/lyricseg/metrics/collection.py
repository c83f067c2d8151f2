"""The metric collection used for every stage, and a list-based corpus evaluation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import MetricCollection

from lyricseg.metrics.segmentation import (
    BoundaryMetrics,
    CalibrationMetrics,
    SegmentMetrics,
    TokenMetrics,
    WindowMetrics,
)
from lyricseg.utils import LyricsegError

#: Keys (without prefix) produced by :func:`build_metric_collection`.
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

#: Keys returned by :func:`evaluate_songs`.
EVALUATE_KEYS = (
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
    "ece",
    "mce",
    "conf_over_95",
    "n_songs",
    "n_lines",
)


def build_metric_collection(prefix: str = "", sync_on_compute: bool = True) -> MetricCollection:
    """Build the full segmentation metric collection.

    Feed it with ``coll.update(preds=..., target=..., mask=..., probs=...)`` (all ``[B, T]``)
    and read ``coll.compute()``, a flat dict ``{prefix + key: scalar}`` over
    :data:`METRIC_KEYS`; call ``coll.reset()`` after each epoch. Each member computes one
    family of scores from its own counters, so no state is shared and compute groups are
    off. ``coll.clone(prefix="test/")`` gives the collection of another stage.

    Args:
        prefix: Prepended to every key, e.g. ``"val/"``.
        sync_on_compute: Sum the states over processes at ``compute()``; False for
            scoring inside one process while a process group exists (e.g. rank zero only).

    Returns:
        A ``MetricCollection`` of the five metric families.
    """
    sync = {"sync_on_compute": sync_on_compute}
    return MetricCollection(
        {
            "token": TokenMetrics(**sync),
            "boundary": BoundaryMetrics(tolerances=(1, 2), **sync),
            "window": WindowMetrics(**sync),
            "segments": SegmentMetrics(**sync),
            "calibration": CalibrationMetrics(n_bins=15, **sync),
        },
        prefix=prefix,
        compute_groups=False,
    )


def _pad(rows: Sequence[Sequence[float]], dtype: torch.dtype) -> torch.Tensor:
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
    # The lists are all there is to score: never wait for other processes.
    coll = build_metric_collection(sync_on_compute=False)
    order = sorted(range(len(preds)), key=lambda i: len(preds[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        p = _pad([preds[i] for i in idx], torch.long)
        t = _pad([targets[i] for i in idx], torch.long)
        q = _pad([probs[i] for i in idx], torch.float32)
        lengths = torch.tensor([len(preds[i]) for i in idx])
        mask = torch.arange(p.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        coll.update(preds=p, target=t, mask=mask, probs=q)
    scores = {k: float(v) for k, v in coll.compute().items()}
    out: dict[str, float] = {k: scores[k] for k in EVALUATE_KEYS if k in scores}
    out["n_songs"] = len(preds)
    out["n_lines"] = sum(len(p) for p in preds)
    return {k: out[k] for k in EVALUATE_KEYS}
