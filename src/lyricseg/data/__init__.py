"""Songs, corpus reading and validation, the generated corpus, batching."""

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
