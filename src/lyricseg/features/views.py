"""Similarity views: each turns a song into a self-similarity matrix (SSM).

A view reduces every line of a :class:`~lyricseg.features.text.SongText` to a key (its
normalized text, its first words, its phones, its syllable count, ...) and scores pairs of
distinct keys in [0, 1] (1 = alike). The result is an :class:`SSM` stored by distinct key, so
a line that recurs is scored once, and the ``[n, n]`` matrix is only laid out when needed.
``threshold`` marks two lines as "the same" for the repeated-block statistics.

A line whose key is empty (a line of punctuation or symbols only: ``...``, ``—``, ``♪``)
says nothing about repetition: it scores 0 against every other line, including other such
lines, so that it never forms a fake repeated block.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from rapidfuzz import fuzz, process

from lyricseg.features.text import SongText


@dataclass(frozen=True)
class SSM:
    """A symmetric self-similarity matrix stored by distinct line key.

    ``sim[i, j] = table[keys[i], keys[j]]`` for ``i != j``, and ``sim[i, i] = 1``.

    Attributes:
        keys: ``[n]`` int64, each line's index into ``table``.
        table: ``[u, u]`` float32 in [0, 1], symmetric: the similarity of distinct keys (the
            row and column of an empty key are 0, its diagonal cell included).
    """

    keys: np.ndarray
    table: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    @cached_property
    def counts(self) -> np.ndarray:
        """``[u]`` int64, lines per key."""
        return np.bincount(self.keys, minlength=len(self.table))

    def _layout(
        self, small: np.ndarray, diagonal: object, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Expand a ``[u, u]`` table to ``[n, n]`` (into ``out`` if given), set the diagonal."""
        full = np.take(np.take(small, self.keys, axis=0), self.keys, axis=1, out=out)
        np.fill_diagonal(full, diagonal)
        return full

    def dense(self) -> np.ndarray:
        """The ``[n, n]`` float32 matrix."""
        return self._layout(self.table, 1.0)

    def quantized(self, out: np.ndarray | None = None) -> np.ndarray:
        """The ``[n, n]`` matrix as uint8, ``round(sim * 255)`` (into ``out`` if given)."""
        return self._layout(np.rint(self.table * 255).astype(np.uint8), 255, out)

    def thresholded(self, threshold: float) -> np.ndarray:
        """``[n, n]`` bool: pairs of distinct lines at or above ``threshold`` (diagonal False)."""
        return self._layout(self.table >= np.float32(threshold), False)


def keyed_ssm(items: Sequence[Hashable], score: Callable[[list], np.ndarray]) -> SSM:
    """Build an :class:`SSM` from one key per line and a scorer of distinct keys.

    Args:
        items: One hashable key per line; a falsy key (``""``, ``0``) is empty.
        score: Maps the ``u`` distinct non-empty keys to their ``[u, u]`` float32
            similarities (symmetric, 1 on the diagonal).

    Returns:
        The SSM; all empty keys share one index whose row and column are 0.
    """
    index: dict[Hashable, int] = {}
    keys = np.fromiter((index.setdefault(k, len(index)) for k in items), np.int64, len(items))
    distinct = list(index)
    full = [i for i, key in enumerate(distinct) if key]
    if len(full) == len(distinct):
        return SSM(keys=keys, table=np.asarray(score(distinct), dtype=np.float32))
    table = np.zeros((len(distinct), len(distinct)), dtype=np.float32)
    if full:
        table[np.ix_(full, full)] = score([distinct[i] for i in full])
    return SSM(keys=keys, table=table)


def _fuzzy(strings: list[str]) -> np.ndarray:
    """Normalized Indel similarity of every pair of strings, ``[u, u]`` float32 in [0, 1].

    One thread: long songs run their views on parallel threads instead (see
    :class:`~lyricseg.features.FeatureExtractor`).
    """
    # Two distinct lists: rapidfuzz then scores many pairs at once with SIMD, which its path
    # for one list compared with itself does not (twice as slow, same scores).
    scores = process.cdist(strings, list(strings), scorer=fuzz.ratio, dtype=np.uint8, workers=1)
    return scores.astype(np.float32) / np.float32(100.0)


def _identity(items: list) -> np.ndarray:
    return np.eye(len(items), dtype=np.float32)


class View:
    """Base class of similarity views.

    Args:
        threshold: Similarity at or above which two lines count as repeated.
    """

    def __init__(self, threshold: float = 0.7):
        self.threshold = threshold

    def ssm(self, text: SongText) -> SSM:
        """Return the song's self-similarity matrix."""
        raise NotImplementedError

    def __call__(self, text: SongText) -> np.ndarray:
        """Return the ``[n, n]`` float32 self-similarity matrix of the song."""
        return self.ssm(text).dense()


class StringView(View):
    """Whole-line fuzzy string similarity (normalized Indel ratio).

    Args:
        threshold: Similarity at or above which two lines count as repeated.
        asides: Keep parenthesized asides (ad-libs); False compares the lines without them.
    """

    def __init__(self, threshold: float = 0.7, asides: bool = True):
        super().__init__(threshold)
        self.asides = asides

    def ssm(self, text: SongText) -> SSM:  # noqa: D102
        return keyed_ssm(text.norm if self.asides else text.core, _fuzzy)


class ExactView(View):
    """Exact repetition of the normalized line (optionally without parenthesized asides)."""

    def __init__(self, threshold: float = 1.0, asides: bool = True):
        super().__init__(threshold)
        self.asides = asides

    def ssm(self, text: SongText) -> SSM:  # noqa: D102
        return keyed_ssm(text.norm if self.asides else text.core, _identity)


class HeadView(View):
    """Fuzzy similarity of the first ``words`` words of each line."""

    def __init__(self, words: int = 2, threshold: float = 0.8):
        super().__init__(threshold)
        self.words = words

    def ssm(self, text: SongText) -> SSM:  # noqa: D102
        return keyed_ssm([" ".join(w[: self.words]) for w in text.words], _fuzzy)


class TailView(View):
    """Fuzzy similarity of the last ``words`` words of each line."""

    def __init__(self, words: int = 2, threshold: float = 0.8):
        super().__init__(threshold)
        self.words = words

    def ssm(self, text: SongText) -> SSM:  # noqa: D102
        return keyed_ssm([" ".join(w[-self.words :]) for w in text.words], _fuzzy)


class RhymeView(View):
    """Identical rhyming part (last stressed vowel onwards) of the last word."""

    def __init__(self, threshold: float = 1.0):
        super().__init__(threshold)

    def ssm(self, text: SongText) -> SSM:  # noqa: D102
        return keyed_ssm([p[-1][2] if p else "" for p in text.phonetic], _identity)


class PhoneticView(View):
    """Fuzzy similarity of the lines' phone strings (CMU dictionary, spelling fallback)."""

    def ssm(self, text: SongText) -> SSM:  # noqa: D102
        return keyed_ssm([" ".join(w[0] for w in p) for p in text.phonetic], _fuzzy)


def _syllable_similarity(counts: list[int]) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float32)
    return 1.0 - np.abs(c[:, None] - c[None, :]) / np.maximum(c[:, None], c[None, :])


class SyllableView(View):
    """Similarity of syllable counts: ``1 - |a - b| / max(a, b)`` (a line without words: 0)."""

    def __init__(self, threshold: float = 0.9):
        super().__init__(threshold)

    def ssm(self, text: SongText) -> SSM:  # noqa: D102
        counts = [sum(w[1] for w in p) for p in text.phonetic]
        return keyed_ssm(counts, _syllable_similarity)
