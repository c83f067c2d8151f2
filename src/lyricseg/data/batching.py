"""Batches of songs: dataset of featurized songs, padding collate, length-bucketed sampler.

Kept free of Lightning so prediction starts fast.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from lyricseg.data.songs import Song
from lyricseg.sections import SectionMap, section_starts


def section_targets(
    song: Song, section_map: SectionMap | None, starts_from_breaks: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Section-head targets of one song: class ids and start flags, ``[n]`` long each.

    Unknown is -1: every line of a song without ``sections`` (or without a map), and the class
    of a line whose header the map does not know. Starts are known whenever sections are:
    line 0 and every line whose header differs from the previous line's. With
    ``starts_from_breaks``, a song with neither labels nor sections but with stanza breaks
    (a stanza corpus) has its stanza starts as start targets: line 0 and every break.
    """
    n = len(song)
    if starts_from_breaks and is_stanza_song(song):
        starts = torch.zeros(n, dtype=torch.long)
        starts[[0, *song.breaks]] = 1
        return torch.full((n,), -1, dtype=torch.long), starts
    if section_map is None or song.sections is None:
        unknown = torch.full((n,), -1, dtype=torch.long)
        return unknown, unknown.clone()
    classes = torch.tensor([section_map.class_id(h) for h in song.sections], dtype=torch.long)
    starts = torch.tensor(section_starts(song.sections), dtype=torch.long)
    return classes, starts


def is_stanza_song(song: Song) -> bool:
    """Whether a song tells only its stanza breaks: no labels, no sections, breaks known."""
    return song.labels is None and song.sections is None and song.breaks is not None


def break_flags(breaks: Sequence[int] | None, n: int, complete: bool = True) -> torch.Tensor:
    """Per-line stanza-break input ``[n, 2]`` float: (a blank line stood before, known here).

    The second column says, line by line, whether the first one is an answer:

    - breaks unknown (None): zeros in both columns ("nobody said");
    - ``complete`` breaks (every blank line given): 1 in the second column on every line,
      so a 0 in the first reads "no break here";
    - partial breaks (``complete=False``: these breaks and maybe others): ``(1, 1)`` on the
      lines given, zeros elsewhere, so an untold line reads "unknown", never "no break".
    """
    flags = torch.zeros(n, 2)
    if breaks is not None:
        flags[list(breaks), 0] = 1.0
        if complete:
            flags[:, 1] = 1.0
        else:
            flags[list(breaks), 1] = 1.0
    return flags


def _per_song(value: int | Sequence[int], n: int, what: str) -> list[int]:
    """One id for each of ``n`` songs, from one id for all or a list of them."""
    if isinstance(value, int):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{len(value)} {what} ids for {n} songs")
    return [int(v) for v in value]


class SongDataset(Dataset):
    """Songs with their feature matrices; items are dicts of tensors.

    Args:
        songs: The songs (labels may be None, e.g. at prediction time).
        features: One ``(features [n_i, F], ssm [V, n_i, n_i] uint8 | None)`` pair per song.
        section_map: Maps the songs' section headers to class ids for the section heads;
            None leaves section targets unknown (-1).
        breaks_from_sections: For songs with ``sections`` but unknown breaks, put a stanza
            break before every section start (Genius-style transcriptions have a blank line
            before every header). Training data only: at prediction it would leak the answer.
        corpus: Corpus id of every song, or one per song (see
            :mod:`lyricseg.data.conventions`).
        convention: Verse/chorus convention id of every song, or one per song: the label
            head a song trains, or is predicted with.
        starts_from_breaks: Songs that tell only their stanza breaks (no labels, no sections:
            a stanza corpus, see :func:`is_stanza_song`) learn the section-start head from
            them: their starts are the targets and their break input is unknown (zeros),
            never the answer. Training data only.
    """

    def __init__(
        self,
        songs: Sequence[Song],
        features: Sequence[tuple[np.ndarray, np.ndarray | None]],
        section_map: SectionMap | None = None,
        breaks_from_sections: bool = False,
        corpus: int | Sequence[int] = 0,
        convention: int | Sequence[int] = 0,
        starts_from_breaks: bool = False,
    ):
        self.songs = list(songs)
        self.corpus = _per_song(corpus, len(self.songs), "corpus")
        self.convention = _per_song(convention, len(self.songs), "convention")
        self.features = [torch.as_tensor(f) for f, _ in features]
        self.ssms = [None if s is None else torch.as_tensor(s) for _, s in features]
        self.targets = [
            section_targets(song, section_map, starts_from_breaks) for song in self.songs
        ]
        self.breaks = []
        for song, (_, starts) in zip(self.songs, self.targets, strict=True):
            breaks = song.breaks
            if starts_from_breaks and is_stanza_song(song):
                breaks = None  # the targets: hidden from the input
            elif breaks is None and breaks_from_sections and song.sections is not None:
                breaks = starts[1:].nonzero().flatten().add(1).tolist()
            self.breaks.append(break_flags(breaks, len(song), song.breaks_complete))

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
            "classes": self.targets[index][0],
            "starts": self.targets[index][1],
            "breaks": self.breaks[index],
            "corpus": self.corpus[index],
            "convention": self.convention[index],
        }

    def subset(self, index: Sequence[int]) -> SongDataset:
        """The songs at ``index``, in that order, with their features, SSMs and targets."""
        out = copy.copy(self)
        for name in ("songs", "features", "ssms", "targets", "breaks", "corpus", "convention"):
            setattr(out, name, [getattr(self, name)[i] for i in index])
        return out

    @property
    def lengths(self) -> list[int]:
        """Number of lines of each song."""
        return [len(s) for s in self.songs]


def collate_songs(
    items: list[dict[str, Any]], ssm_dtype: torch.dtype = torch.uint8
) -> dict[str, Any]:
    """Pad a list of songs into a batch.

    Args:
        items: Dataset items (see :class:`SongDataset`).
        ssm_dtype: ``torch.uint8`` keeps the stored ``round(similarity × 255)`` codes (a
            quarter of the memory of floats; :class:`~lyricseg.models.components.SSMEncoder`
            converts them band by band); a float dtype gives similarities in [0, 1].

    Returns:
        Dict with ``features`` ``[B, T, F]`` float, ``labels``, ``classes`` (section class
        ids) and ``starts`` (section start flags), each ``[B, T]`` long (-1 where unknown or
        padded), ``breaks`` ``[B, T, 2]`` float (see :func:`break_flags`; zero-padded),
        ``mask`` ``[B, T]`` bool (True on real lines), ``ids`` (list of str), ``index``
        ``[B]`` long (position in the dataset), ``corpus`` and ``convention`` ``[B]`` long
        (each song's corpus and verse/chorus convention ids) and ``ssm`` ``[B, V, T, T]``
        of ``ssm_dtype`` (zero-padded) or None when the songs carry no SSMs.
    """
    lengths = [len(item["labels"]) for item in items]
    batch, width = len(items), max(lengths)
    dim = items[0]["features"].shape[1]
    features = torch.zeros(batch, width, dim, dtype=torch.float32)
    labels = torch.full((batch, width), -1, dtype=torch.long)
    classes, starts = labels.clone(), labels.clone()
    breaks = torch.zeros(batch, width, 2)
    mask = torch.zeros(batch, width, dtype=torch.bool)
    for b, (item, n) in enumerate(zip(items, lengths, strict=True)):
        features[b, :n] = item["features"]
        labels[b, :n] = item["labels"]
        if "classes" in item:
            classes[b, :n] = item["classes"]
            starts[b, :n] = item["starts"]
            breaks[b, :n] = item["breaks"]
        mask[b, :n] = True
    ssm = None
    if items[0].get("ssm") is not None:
        views = items[0]["ssm"].shape[0]
        ssm = torch.zeros(batch, views, width, width, dtype=ssm_dtype)
        for b, (item, n) in enumerate(zip(items, lengths, strict=True)):
            # In place, one song at a time: no temporary of the batch's size.
            ssm[b, :, :n, :n].copy_(item["ssm"])
            if ssm_dtype != torch.uint8:
                ssm[b, :, :n, :n].div_(255.0)
    return {
        "features": features,
        "ssm": ssm,
        "labels": labels,
        "classes": classes,
        "starts": starts,
        "breaks": breaks,
        "mask": mask,
        "ids": [item["id"] for item in items],
        "index": torch.tensor([item["index"] for item in items], dtype=torch.long),
        "corpus": torch.tensor([item.get("corpus", 0) for item in items], dtype=torch.long),
        "convention": torch.tensor([item.get("convention", 0) for item in items], dtype=torch.long),
    }


class BucketSampler(Sampler[int]):
    """Shuffled order in which neighbouring songs have similar lengths (less padding).

    Indices are shuffled, cut into pools of ``batch_size * pool_batches``, sorted by length
    inside each pool, grouped into batches, and the batches shuffled again. With
    ``weights``, song ``i`` is drawn ``floor(w_i)`` times per epoch, and ``round(sum(w -
    floor(w)))`` songs once more, drawn without replacement with odds growing with
    ``w_i - floor(w_i)`` (e.g. 0.5 draws a random half of a corpus each epoch). An epoch
    always holds exactly ``len(self)`` draws: the trainer plans its batches (and when to
    validate) from that length.

    Args:
        lengths: Length of each song.
        batch_size: Songs per batch.
        pool_batches: Batches per sorting pool.
        seed: Base seed; the epoch is added so every epoch differs.
        weights: Expected draws of each song per epoch (1 for every song when None).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        pool_batches: int = 20,
        seed: int = 0,
        weights: Sequence[float] | None = None,
    ):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.pool = batch_size * pool_batches
        self.seed = seed
        self.epoch = 0
        self.weights = None if weights is None else [float(w) for w in weights]
        if self.weights is not None and len(self.weights) != len(self.lengths):
            raise ValueError(f"{len(self.weights)} weights for {len(self.lengths)} songs")

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffle for a new epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self.weights is None:
            return len(self.lengths)
        return int(round(sum(self.weights)))

    def _draws(self, rng: random.Random) -> list[int]:
        if self.weights is None:
            return list(range(len(self.lengths)))
        order = [i for i, w in enumerate(self.weights) for _ in range(int(w))]
        fractions = [(i, w - int(w)) for i, w in enumerate(self.weights) if w > int(w)]
        # weighted sampling without replacement (Efraimidis-Spirakis): the largest u^(1/f)
        keys = sorted(((rng.random() ** (1 / f), i) for i, f in fractions), reverse=True)
        return order + [i for _, i in keys[: len(self) - len(order)]]

    def __iter__(self) -> Iterator[int]:
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        order = self._draws(rng)
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start : start + self.pool], key=self.lengths.__getitem__)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        rng.shuffle(batches)
        return iter([i for batch in batches for i in batch])
