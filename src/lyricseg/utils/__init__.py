"""Small shared helpers: logging, atomic file output, user-facing errors."""

from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write, atomic_write_json
from lyricseg.utils.logging import get_logger

__all__ = ["LyricsegError", "atomic_write", "atomic_write_json", "get_logger"]
