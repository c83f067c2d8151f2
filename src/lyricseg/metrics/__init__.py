"""Segmentation metrics for verse/chorus tagging (torchmetrics, sum states only)."""

from lyricseg.metrics.collection import (
    EVALUATE_KEYS,
    METRIC_KEYS,
    build_metric_collection,
    evaluate_songs,
)
from lyricseg.metrics.segmentation import (
    BoundaryMetrics,
    CalibrationMetrics,
    SegmentMetrics,
    TokenMetrics,
    WindowMetrics,
)

__all__ = [
    "EVALUATE_KEYS",
    "METRIC_KEYS",
    "BoundaryMetrics",
    "CalibrationMetrics",
    "SegmentMetrics",
    "TokenMetrics",
    "WindowMetrics",
    "build_metric_collection",
    "evaluate_songs",
]
