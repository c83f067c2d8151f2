"""Songs, corpus reading and validation, the generated corpus, and the DataModule."""

from lyricseg.data.batching import BucketSampler, SongDataset, collate_songs
from lyricseg.data.songs import (
    DataError,
    Song,
    is_jsonl_path,
    read_jsonl,
    read_songs,
    read_txt,
    write_jsonl,
)
from lyricseg.data.synthetic import SyntheticCorpus

__all__ = [
    "BucketSampler",
    "DataError",
    "LyricsDataModule",
    "Song",
    "SongDataset",
    "SyntheticCorpus",
    "collate_songs",
    "is_jsonl_path",
    "read_jsonl",
    "read_songs",
    "read_txt",
    "write_jsonl",
]


def __getattr__(name: str):
    # The DataModule pulls in Lightning; import it only when asked for (predict stays light).
    if name == "LyricsDataModule":
        from lyricseg.training.datamodule import LyricsDataModule

        return LyricsDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
