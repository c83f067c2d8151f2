"""Batches of songs: dataset of featurized songs, padding collate, length-bucketed sampler.

Kept free of Lightning so prediction starts fast.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from lyricseg.data.songs import Song


class SongDataset(Dataset):
    """Songs with their feature matrices; items are dicts of tensors.

    Args:
        songs: The songs (labels may be None, e.g. at prediction time).
        features: One ``(features [n_i, F], ssm [V, n_i, n_i] uint8 | None)`` pair per song.
    """

    def __init__(
        self, songs: Sequence[Song], features: Sequence[tuple[np.ndarray, np.ndarray | None]]
    ):
        self.songs = list(songs)
        self.features = [torch.as_tensor(f) for f, _ in features]
        self.ssms = [None if s is None else torch.as_tensor(s) for _, s in features]

    def __len__(self) -> int:
        return len(self.songs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        song = self.songs[index]
        labels = song.labels if song.labels is not None else [-1] * len(song)
        return {
            "id": song.id,
            "index": index,
            "features": self.features[index],
            "ssm": self.ssms[index],
            "labels": torch.tensor(labels, dtype=torch.long),
        }

    @property
    def lengths(self) -> list[int]:
        """Number of lines of each song."""
        return [len(s) for s in self.songs]


def collate_songs(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pad a list of songs into a batch.

    Returns:
        Dict with ``features`` ``[B, T, F]`` float, ``labels`` ``[B, T]`` long (-1 where
        unknown or padded), ``mask`` ``[B, T]`` bool (True on real lines), ``ids`` (list of
        str), ``index`` ``[B]`` long (position in the dataset) and ``ssm`` ``[B, V, T, T]``
        float in [0, 1] (zero-padded) or None when the songs carry no SSMs.
    """
    lengths = [len(item["labels"]) for item in items]
    batch, width = len(items), max(lengths)
    dim = items[0]["features"].shape[1]
    features = torch.zeros(batch, width, dim, dtype=torch.float32)
    labels = torch.full((batch, width), -1, dtype=torch.long)
    mask = torch.zeros(batch, width, dtype=torch.bool)
    for b, (item, n) in enumerate(zip(items, lengths, strict=True)):
        features[b, :n] = item["features"]
        labels[b, :n] = item["labels"]
        mask[b, :n] = True
    ssm = None
    if items[0].get("ssm") is not None:
        views = items[0]["ssm"].shape[0]
        ssm = torch.zeros(batch, views, width, width, dtype=torch.float32)
        for b, (item, n) in enumerate(zip(items, lengths, strict=True)):
            ssm[b, :, :n, :n] = item["ssm"].float() / 255.0
    return {
        "features": features,
        "ssm": ssm,
        "labels": labels,
        "mask": mask,
        "ids": [item["id"] for item in items],
        "index": torch.tensor([item["index"] for item in items], dtype=torch.long),
    }


class BucketSampler(Sampler[int]):
    """Shuffled order in which neighbouring songs have similar lengths (less padding).

    Indices are shuffled, cut into pools of ``batch_size * pool_batches``, sorted by length
    inside each pool, grouped into batches, and the batches shuffled again.

    Args:
        lengths: Length of each song.
        batch_size: Songs per batch.
        pool_batches: Batches per sorting pool.
        seed: Base seed; the epoch is added so every epoch differs.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, pool_batches: int = 20, seed: int = 0
    ):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.pool = batch_size * pool_batches
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffle for a new epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start : start + self.pool], key=self.lengths.__getitem__)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        rng.shuffle(batches)
        return iter([i for batch in batches for i in batch])
