"""Self-similarity views of a song and their per-line summaries."""

from lyricseg.features.extractor import FeatureExtractor
from lyricseg.features.semantic import SemanticView
from lyricseg.features.text import SongText
from lyricseg.features.views import (
    ExactView,
    HeadView,
    PhoneticView,
    RhymeView,
    StringView,
    SyllableView,
    TailView,
    View,
)

__all__ = [
    "ExactView",
    "FeatureExtractor",
    "HeadView",
    "PhoneticView",
    "RhymeView",
    "SemanticView",
    "SongText",
    "StringView",
    "SyllableView",
    "TailView",
    "View",
]
