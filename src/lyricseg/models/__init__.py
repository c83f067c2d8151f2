"""The LightningModule and its components."""

__all__ = ["LyricsTagger"]


def __getattr__(name: str):
    # Importing Lightning takes seconds; components and prediction do without it.
    if name == "LyricsTagger":
        from lyricseg.training.module import LyricsTagger

        return LyricsTagger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
