"""Inference: a checkpoint restored for tagging, and the prediction record it produces.

:mod:`lyricseg.inference.predictor` holds the engine (:class:`Predictor`, and
:func:`model_path`, the one place where no checkpoint means the shipped model);
:mod:`lyricseg.inference.record` the record (:class:`Segmentation`) and its formats. The
predict command, the Python API and the service all go through here.
"""

from lyricseg.inference.predictor import (
    CHUNK_SONGS,
    MAX_LINES,
    PredictionError,
    Predictor,
    model_path,
)
from lyricseg.inference.record import Segmentation, Span, format_jsonl, format_songs

__all__ = [
    "CHUNK_SONGS",
    "MAX_LINES",
    "PredictionError",
    "Predictor",
    "Segmentation",
    "Span",
    "format_jsonl",
    "format_songs",
    "model_path",
]
