"""LightningDataModule over JSONL corpora: featurize once, pad and mask, bucket by length."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler

from lyricseg.data.featurize import load_featurized
from lyricseg.data.songs import Song
from lyricseg.data.synthetic import SyntheticCorpus
from lyricseg.features import FeatureExtractor
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)


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


class LyricsDataModule(L.LightningDataModule):
    """Train/val/test splits read from ``data_dir/{train,val,test}.jsonl``.

    ``test.jsonl`` is optional. When ``generator`` is given, ``prepare_data`` first writes a
    generated corpus into ``data_dir``.

    Args:
        data_dir: Folder with the JSONL splits.
        features: The feature extractor (its signature keys the cache).
        generator: Optional corpus generator with a ``write(data_dir)`` method.
        batch_size: Songs per batch.
        num_workers: DataLoader worker processes.
        featurize_workers: Processes for featurizing a split on a cache miss.
        cache_dir: Feature cache folder; None disables caching.
        bucket: Batch songs of similar length together during training.
        weighted_sampling: Draw training songs with probability growing with their share of
            the rarer class (with replacement).
        seed: Seed of the bucket shuffle.
    """

    def __init__(
        self,
        data_dir: str,
        features: FeatureExtractor,
        generator: SyntheticCorpus | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        featurize_workers: int = 1,
        cache_dir: str | None = None,
        bucket: bool = True,
        weighted_sampling: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        self.data_dir = Path(data_dir)
        self.features = features
        self.generator = generator
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.featurize_workers = featurize_workers
        self.cache_dir = cache_dir
        self.bucket = bucket
        self.weighted_sampling = weighted_sampling
        self.seed = seed
        self.splits: dict[str, SongDataset] = {}

    def prepare_data(self) -> None:
        """Write the generated corpus when configured (once, on rank zero)."""
        if self.generator is not None:
            self.generator.write(self.data_dir)

    def split_path(self, split: str) -> Path:
        """Path of one split's JSONL file."""
        return self.data_dir / f"{split}.jsonl"

    def setup(self, stage: str | None = None) -> None:
        """Read and featurize the splits the stage needs (cached)."""
        if self.generator is not None and not self.split_path("train").exists():
            self.prepare_data()
        wanted = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"]}.get(
            stage or "", ["train", "val", "test"]
        )
        for split in wanted:
            path = self.split_path(split)
            if split in self.splits:
                continue
            if not path.exists():
                if split == "test":
                    continue
                raise LyricsegError(f"missing {split} split: {path} does not exist")
            songs, feats = load_featurized(
                path, self.features, self.cache_dir, workers=self.featurize_workers
            )
            self.splits[split] = SongDataset(songs, feats)

    @property
    def has_test(self) -> bool:
        """Whether a test split exists."""
        return "test" in self.splits or self.split_path("test").exists()

    @property
    def class_counts(self) -> torch.Tensor:
        """Lines per class in the training split, ``[2]`` long."""
        labels = torch.cat([torch.tensor(s.labels) for s in self.splits["train"].songs])
        return torch.bincount(labels, minlength=2)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.splits[split]
        sampler: Sampler[int] | None = None
        if shuffle and self.weighted_sampling:
            sampler = WeightedRandomSampler(self._song_weights(dataset), len(dataset))
        elif shuffle and self.bucket:
            sampler = BucketSampler(dataset.lengths, self.batch_size, seed=self.seed)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate_songs,
            persistent_workers=self.num_workers > 0,
        )

    def _song_weights(self, dataset: SongDataset) -> torch.Tensor:
        counts = self.class_counts.double().clamp(min=1)
        line_weight = counts.sum() / (2 * counts)
        return torch.tensor(
            [float(line_weight[torch.tensor(s.labels)].mean()) for s in dataset.songs]
        )

    def train_dataloader(self) -> DataLoader:  # noqa: D102
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:  # noqa: D102
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:  # noqa: D102
        return self._loader("test", shuffle=False)
