"""Segmentation metrics for verse/chorus tags and sections (torchmetrics, sum states only).

The names below load on first use: ``lyricseg.metrics.functional`` (pure helpers, used by
calibration at prediction time) must not pull in torchmetrics, which takes about a second.
"""

import importlib

_EXPORTS = {
    "EVALUATE_KEYS": "corpus",
    "METRIC_KEYS": "corpus",
    "build_metric_collection": "collection",
    "evaluate_songs": "corpus",
    "BoundaryMetrics": "segmentation",
    "CalibrationMetrics": "segmentation",
    "SegmentMetrics": "segmentation",
    "TokenMetrics": "segmentation",
    "WindowMetrics": "segmentation",
    "SectionBorderMetrics": "sections",
    "SectionClassMetrics": "sections",
    "SectionWindowMetrics": "sections",
    "build_section_metric_collection": "sections",
    "evaluate_sections": "sections",
    "section_metric_keys": "sections",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    # Lazy: evaluate_songs loads without torchmetrics (tests/metrics/test_metrics_collection.py).
    if name in _EXPORTS:
        module = importlib.import_module(f"lyricseg.metrics.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
