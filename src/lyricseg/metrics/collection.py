"""The metric collection used for every stage (the same scores as :func:`evaluate_songs`)."""

from __future__ import annotations

from torchmetrics import MetricCollection

from lyricseg.metrics.corpus import BOUNDARY_TOLERANCES, CALIBRATION_BINS
from lyricseg.metrics.segmentation import (
    BoundaryMetrics,
    CalibrationMetrics,
    SegmentMetrics,
    TokenMetrics,
    WindowMetrics,
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
            "boundary": BoundaryMetrics(tolerances=BOUNDARY_TOLERANCES, **sync),
            "window": WindowMetrics(**sync),
            "segments": SegmentMetrics(**sync),
            "calibration": CalibrationMetrics(n_bins=CALIBRATION_BINS, **sync),
        },
        prefix=prefix,
        compute_groups=False,
    )
