"""lyricseg: verse/chorus tagging of song lyrics."""

__version__ = "0.1.0"
