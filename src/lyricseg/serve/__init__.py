"""The HTTP service and its page: ``python -m lyricseg.serve [ckpt=PATH] [port=8000]``."""

from lyricseg.serve.app import create_app

__all__ = ["create_app"]
