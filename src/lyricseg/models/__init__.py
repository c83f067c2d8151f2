"""The LightningModule and its components."""

from lyricseg.models.tagger import LyricsTagger

__all__ = ["LyricsTagger"]
