"""Pure ``_update``/``_compute`` helpers for the segmentation metrics (one padded batch)."""

from lyricseg.metrics.functional._common import boundary_starts, check_inputs, safe_div
from lyricseg.metrics.functional.boundary import (
    _boundary_compute,
    _boundary_update,
    greedy_match_count,
)
from lyricseg.metrics.functional.calibration import (
    _calibration_compute,
    _calibration_update,
    bin_index,
    binary_ece,
    confidence_and_correct,
)
from lyricseg.metrics.functional.segments import (
    SEGMENT_COUNTS,
    _segment_compute,
    _segment_update,
)
from lyricseg.metrics.functional.token import _token_compute, _token_update
from lyricseg.metrics.functional.window import _window_compute, _window_update, window_size

__all__ = [
    "SEGMENT_COUNTS",
    "_boundary_compute",
    "_boundary_update",
    "_calibration_compute",
    "_calibration_update",
    "_segment_compute",
    "_segment_update",
    "_token_compute",
    "_token_update",
    "_window_compute",
    "_window_update",
    "bin_index",
    "binary_ece",
    "boundary_starts",
    "check_inputs",
    "confidence_and_correct",
    "greedy_match_count",
    "safe_div",
    "window_size",
]
