"""LightningDataModule over JSONL corpora: featurize once, pad and mask, bucket by length."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler, WeightedRandomSampler

from lyricseg.data import conventions as conv
from lyricseg.data.batching import BucketSampler, SongDataset, collate_songs
from lyricseg.data.featurize import load_featurized
from lyricseg.data.stanzas import META_FILE, read_stanza_meta, stanza_split
from lyricseg.data.synthetic import SyntheticCorpus
from lyricseg.features import FeatureExtractor
from lyricseg.sections import SectionMap
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.logging import get_logger

log = get_logger(__name__)


class LyricsDataModule(L.LightningDataModule):
    """Train/val/test splits read from ``data_dir/{train,val,test}.jsonl``, plus extra corpora.

    ``test.jsonl`` is optional. When ``generator`` is given, ``prepare_data`` first writes a
    generated corpus into ``data_dir``. Each of ``extra_dirs`` holds another corpus: its
    ``train.jsonl`` joins training (drawn ``extra_weight`` times per song and epoch) and its
    ``val.jsonl``, when present, is scored as its own validation set ``val_<dir name>/``;
    the monitored ``val/`` metrics stay the main corpus's. Songs with ``sections`` also train
    the section heads (headers mapped to classes by ``section_map``). Every song carries its
    corpus and verse/chorus convention (:attr:`conventions`, see
    :mod:`lyricseg.data.conventions`): each trains its own convention's label head.

    An extra corpus's songs need no labels: each trains the heads it has evidence for. A song
    with neither labels nor sections but with stanza breaks (a stanza corpus) trains only
    the section-start head, on its stanza starts, with its breaks hidden from the input (see
    :class:`~lyricseg.data.batching.SongDataset`); unknown labels (-1) count in no
    verse/chorus loss or metric. An extra corpus with ``train.meta.jsonl`` beside its
    ``train.jsonl`` (the stanza corpus's layout) is split by artist
    (:func:`~lyricseg.data.stanzas.stanza_split`) and, with ``hold_out_artists``, only its
    kept artists train: the artists the stanza bench scores are never trained on.

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
        extra_dirs: Folders of extra corpora (``train.jsonl``, optional ``val.jsonl``).
        extra_weight: Expected draws per epoch of each extra training song: one number for
            every extra corpus, or one per corpus (the main corpus's songs are drawn once).
        section_map: YAML file mapping section headers to classes; None uses lyricseg's.
        breaks_from_sections: Give songs that have ``sections`` but no stanza breaks a break
            before every section start (see :class:`~lyricseg.data.batching.SongDataset`).
        conventions: Corpus name (``main`` or an extra folder's name) -> verse/chorus
            convention name, for corpora that should not follow their default (see
            :func:`~lyricseg.data.conventions.corpus_conventions`).
        hold_out_artists: Leave the held-out artists of :func:`~lyricseg.data.stanzas.stanza_split`
            out of training, for every extra corpus with ``train.meta.jsonl``. False trains on
            all of them (a final model, never one the stanza bench scores).
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
        extra_dirs: Sequence[str] = (),
        extra_weight: float | Sequence[float] = 1.0,
        section_map: str | None = None,
        breaks_from_sections: bool = True,
        conventions: Mapping[str, str] | None = None,
        hold_out_artists: bool = True,
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
        self.extra_dirs = [Path(d) for d in extra_dirs or ()]
        weights = extra_weight if isinstance(extra_weight, Sequence) else None
        if weights is not None and len(weights) != len(self.extra_dirs):
            raise LyricsegError(
                f"data.extra_weight has {len(weights)} values for {len(self.extra_dirs)} "
                "extra_dirs; give one number, or one per directory"
            )
        self.extra_weights = (
            [float(w) for w in weights]
            if weights is not None
            else [float(extra_weight)] * len(self.extra_dirs)
        )
        if any(w < 0 for w in self.extra_weights):
            raise LyricsegError(f"data.extra_weight must be >= 0, got {self.extra_weights}")
        self.section_map = SectionMap.load(section_map)
        self.breaks_from_sections = breaks_from_sections
        self.convention_overrides = dict(conventions or {})
        #: Verse/chorus conventions of the training songs, the main corpus's first.
        self.conventions: list[str] = [conv.DEFAULT_CONVENTION]
        self.hold_out_artists = hold_out_artists
        self.splits: dict[str, SongDataset] = {}
        #: Per-song draws per epoch of the training split (main songs first).
        self.train_weights: list[float] | None = None
        self._joined = False  # extra corpora joined to the training split

    def prepare_data(self) -> None:
        """Write the generated corpus when configured (once, on rank zero)."""
        if self.generator is not None:
            self.generator.write(self.data_dir)

    def split_path(self, split: str) -> Path:
        """Path of one split's JSONL file."""
        return self.data_dir / f"{split}.jsonl"

    @property
    def extra_names(self) -> list[str]:
        """A unique short name per extra corpus (its folder's name)."""
        names: list[str] = []
        for path in self.extra_dirs:
            name = path.resolve().name or "extra"
            names.append(name if name not in names else f"{name}{len(names)}")
        return names

    @property
    def val_names(self) -> list[str]:
        """Log prefix of each validation set: ``val`` first, then ``val_<extra name>``."""
        extra = [
            f"val_{name}"
            for name, path in zip(self.extra_names, self.extra_dirs, strict=True)
            if (path / "val.jsonl").exists()
        ]
        return ["val", *extra]

    @property
    def corpus_names(self) -> list[str]:
        """Name of each corpus, by corpus id: ``main``, then :attr:`extra_names`."""
        return [conv.MAIN_CORPUS, *self.extra_names]

    def _read(
        self, path: Path, corpus: int = 0, convention: int = 0, extra: bool = False
    ) -> SongDataset:
        """One split of corpus ``corpus``; ``extra``: an extra corpus's file (labels optional)."""
        songs, feats = load_featurized(
            path,
            self.features,
            self.cache_dir,
            require_labels=not extra,
            workers=self.featurize_workers,
        )
        if extra:
            for song in songs:
                if song.labels is None and song.sections is None and song.breaks is None:
                    raise LyricsegError(
                        f"{path}: song '{song.id}' has no labels, sections or stanza breaks: "
                        "nothing to train on"
                    )
        return SongDataset(
            songs,
            feats,
            self.section_map,
            self.breaks_from_sections,
            corpus,
            convention,
            starts_from_breaks=True,
        )

    def _kept_artists(self, path: Path, dataset: SongDataset) -> SongDataset:
        """``dataset`` (an extra corpus's training songs) without the held-out artists' songs."""
        meta_file = path / META_FILE
        if not self.hold_out_artists or not meta_file.exists():
            return dataset
        kept, held = stanza_split(dataset.songs, read_stanza_meta(meta_file))
        log.info(
            "Extra corpus %s: %d songs of held-out artists left out of training "
            "(data.hold_out_artists)",
            path,
            len(held),
        )
        ids = {song.id for song in kept}
        index = [i for i, song in enumerate(dataset.songs) if song.id in ids]
        return dataset.subset(index)

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
            self.splits[split] = self._read(path)
        if "train" in wanted and not self._joined:
            self._add_extra_corpora()

    def _add_extra_corpora(self) -> None:
        """Name each corpus's convention; join the extra training songs, tagged with both."""
        main = self.splits["train"]
        extras = []
        for path in self.extra_dirs:
            if not (path / "train.jsonl").exists():
                raise LyricsegError(f"extra corpus {path} has no train.jsonl")
            extras.append(self._kept_artists(path, self._read(path / "train.jsonl", extra=True)))
        labelled = [conv.has_labels(d.songs) for d in (main, *extras)]
        self.conventions, ids = conv.corpus_conventions(
            self.corpus_names, labelled, self.convention_overrides
        )
        self._joined = True
        if not extras:
            return
        log.info(
            "Conventions: %s",
            ", ".join(
                f"{c} -> {self.conventions[k]}" for c, k in zip(self.corpus_names, ids, strict=True)
            ),
        )
        songs, feats = list(main.songs), list(zip(main.features, main.ssms, strict=True))
        weights, corpus = [1.0] * len(songs), [0] * len(songs)
        for i, (name, path, weight, extra) in enumerate(
            zip(self.extra_names, self.extra_dirs, self.extra_weights, extras, strict=True), 1
        ):
            songs += extra.songs
            feats += list(zip(extra.features, extra.ssms, strict=True))
            weights += [weight] * len(extra)
            corpus += [i] * len(extra)
            unlabelled = sum(song.labels is None for song in extra.songs)
            log.info(
                "Extra corpus %s: %d training songs (%d without labels), weight %g",
                name,
                len(extra),
                unlabelled,
                weight,
            )
            if (path / "val.jsonl").exists():
                self.splits[f"val_{name}"] = self._read(path / "val.jsonl", i, ids[i], extra=True)
        self.splits["train"] = SongDataset(
            songs,
            [(f.numpy(), None if s is None else s.numpy()) for f, s in feats],
            self.section_map,
            self.breaks_from_sections,
            corpus=corpus,
            convention=[ids[c] for c in corpus],
            starts_from_breaks=True,
        )
        self.train_weights = weights

    def label_given_class(self) -> list[list[list[float]]]:
        """P(label | section class) of the training songs, ``[K][S][2]``, per convention.

        What a joint decoder keeps labels and sections consistent with (see
        :func:`~lyricseg.data.conventions.label_given_class`).
        """
        train = self.splits["train"]
        return conv.label_given_class(
            [
                torch.tensor(s.labels if s.labels is not None else [-1] * len(s))
                for s in train.songs
            ],
            [classes for classes, _ in train.targets],
            train.convention,
            len(self.conventions),
            len(self.section_map.classes),
        )

    @property
    def has_test(self) -> bool:
        """Whether a test split exists."""
        return "test" in self.splits or self.split_path("test").exists()

    @property
    def class_counts(self) -> torch.Tensor:
        """Labelled lines per class in the training split (extra corpora included), ``[2]``."""
        songs = self.splits["train"].songs
        labels = [x for s in songs if s.labels is not None for x in s.labels]
        return torch.bincount(torch.tensor(labels, dtype=torch.long), minlength=2)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.splits[split]
        sampler: Sampler[int] | None = None
        if shuffle and self.weighted_sampling:
            sampler = WeightedRandomSampler(self._song_weights(dataset), len(dataset))
        elif shuffle and self.bucket:
            sampler = BucketSampler(
                dataset.lengths, self.batch_size, seed=self.seed, weights=self.train_weights
            )
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
        weights = torch.tensor(
            [
                float(line_weight[torch.tensor(s.labels)].mean()) if s.labels is not None else 1.0
                for s in dataset.songs
            ]
        )
        if self.train_weights is not None:  # extra corpora keep their relative weight
            weights = weights * torch.tensor(self.train_weights)
        return weights

    def train_dataloader(self) -> DataLoader:  # noqa: D102
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        """The main val loader, or one per entry of :attr:`val_names` with extra corpora."""
        loaders = [self._loader(name, shuffle=False) for name in self.val_names]
        return loaders[0] if len(loaders) == 1 else loaders

    def main_val_dataloader(self) -> DataLoader:
        """The main corpus's val loader (the monitored one)."""
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:  # noqa: D102
        return self._loader("test", shuffle=False)
