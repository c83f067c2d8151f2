"""lyricseg: song structure from lyrics (verse/chorus tags and sections).

``from lyricseg import Segmenter`` is the Python API (:mod:`lyricseg.api`); it is imported on
first use, so ``import lyricseg`` alone stays light (no torch).
"""

from __future__ import annotations

from typing import Any

from lyricseg._version import __version__

#: Names served lazily from :mod:`lyricseg.api`.
_API = ("Segmenter", "Segmentation")

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        # Lazy: Python runs this file before any lyricseg submodule, so an eager import of the
        # API (torch, the checkpoint, the network) would load with every ``lyricseg.*`` import,
        # the light commands included (tests/test_api.py::test_import_lyricseg_stays_light).
        from lyricseg import api

        return getattr(api, name)
    raise AttributeError(f"module 'lyricseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
