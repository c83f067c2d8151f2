"""Songs, corpus reading and validation, the generated corpus, and the DataModule."""

from lyricseg.data.datamodule import BucketSampler, LyricsDataModule, SongDataset, collate_songs
from lyricseg.data.songs import DataError, Song, read_jsonl, read_songs, read_txt, write_jsonl
from lyricseg.data.synthetic import SyntheticCorpus

__all__ = [
    "BucketSampler",
    "DataError",
    "LyricsDataModule",
    "Song",
    "SongDataset",
    "SyntheticCorpus",
    "collate_songs",
    "read_jsonl",
    "read_songs",
    "read_txt",
    "write_jsonl",
]
