"""LightningDataModule over JSONL corpora: featurize once, pad and mask, bucket by length."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler, WeightedRandomSampler

from lyricseg.data.batching import BucketSampler, SongDataset, collate_songs
from lyricseg.data.featurize import load_featurized
from lyricseg.data.synthetic import SyntheticCorpus
from lyricseg.features import FeatureExtractor
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)


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
