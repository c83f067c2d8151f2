"""Similarity views: each turns a song into a self-similarity matrix (SSM).

A view is called on a :class:`~lyricseg.features.text.SongText` of ``n`` lines and returns an
``[n, n]`` float32 matrix with values in [0, 1] (1 = alike). ``threshold`` marks two lines as
"the same" for the repeated-block statistics.

A line that a view reduces to nothing (a line of punctuation or symbols only: ``...``,
``—``, ``♪``) says nothing about repetition: it scores 0 against every other line, other such
lines included, so that it never forms a fake repeated block (its diagonal cell stays 1).
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz, process

from lyricseg.features.text import SongText


def _without_empty(sim: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Zero the rows and columns of empty lines (``[n]`` bool), keeping the diagonal 1."""
    if empty.any():
        sim[empty] = 0.0
        sim[:, empty] = 0.0
        sim[np.flatnonzero(empty), np.flatnonzero(empty)] = 1.0
    return sim


def _fuzzy(strings: list[str]) -> np.ndarray:
    """Normalized Indel similarity of every pair of strings, ``[n, n]`` in [0, 1]."""
    scores = process.cdist(strings, strings, scorer=fuzz.ratio, dtype=np.uint8, workers=1)
    empty = np.array([not s for s in strings], dtype=bool)
    return _without_empty(scores.astype(np.float32) / 100.0, empty)


def _equal(keys: list[object]) -> np.ndarray:
    """1 where two keys are equal (and not empty), ``[n, n]``."""
    ids = {}
    codes = np.array([ids.setdefault(k, len(ids)) if k else -1 - i for i, k in enumerate(keys)])
    return (codes[:, None] == codes[None, :]).astype(np.float32)


class View:
    """Base class of similarity views.

    Args:
        threshold: Similarity at or above which two lines count as repeated.
    """

    def __init__(self, threshold: float = 0.7):
        self.threshold = threshold

    def __call__(self, text: SongText) -> np.ndarray:
        """Return the ``[n, n]`` self-similarity matrix of the song."""
        raise NotImplementedError


class StringView(View):
    """Whole-line fuzzy string similarity (normalized Indel ratio).

    Args:
        threshold: Similarity at or above which two lines count as repeated.
        asides: Keep parenthesized asides (ad-libs); False compares the lines without them.
    """

    def __init__(self, threshold: float = 0.7, asides: bool = True):
        super().__init__(threshold)
        self.asides = asides

    def __call__(self, text: SongText) -> np.ndarray:  # noqa: D102
        return _fuzzy(text.norm if self.asides else text.core)


class ExactView(View):
    """Exact repetition of the normalized line (optionally without parenthesized asides)."""

    def __init__(self, threshold: float = 1.0, asides: bool = True):
        super().__init__(threshold)
        self.asides = asides

    def __call__(self, text: SongText) -> np.ndarray:  # noqa: D102
        return _equal(text.norm if self.asides else text.core)


class HeadView(View):
    """Fuzzy similarity of the first ``words`` words of each line."""

    def __init__(self, words: int = 2, threshold: float = 0.8):
        super().__init__(threshold)
        self.words = words

    def __call__(self, text: SongText) -> np.ndarray:  # noqa: D102
        return _fuzzy([" ".join(w[: self.words]) for w in text.words])


class TailView(View):
    """Fuzzy similarity of the last ``words`` words of each line."""

    def __init__(self, words: int = 2, threshold: float = 0.8):
        super().__init__(threshold)
        self.words = words

    def __call__(self, text: SongText) -> np.ndarray:  # noqa: D102
        return _fuzzy([" ".join(w[-self.words :]) for w in text.words])


class RhymeView(View):
    """Identical rhyming part (last stressed vowel onwards) of the last word."""

    def __init__(self, threshold: float = 1.0):
        super().__init__(threshold)

    def __call__(self, text: SongText) -> np.ndarray:  # noqa: D102
        return _equal([p[-1][2] if p else "" for p in text.phonetic])


class PhoneticView(View):
    """Fuzzy similarity of the lines' phone strings (CMU dictionary, spelling fallback)."""

    def __call__(self, text: SongText) -> np.ndarray:  # noqa: D102
        return _fuzzy([" ".join(w[0] for w in p) for p in text.phonetic])


class SyllableView(View):
    """Similarity of syllable counts: ``1 - |a - b| / max(a, b)`` (a line without words: 0)."""

    def __init__(self, threshold: float = 0.9):
        super().__init__(threshold)

    def __call__(self, text: SongText) -> np.ndarray:  # noqa: D102
        counts = np.array([sum(w[1] for w in p) for p in text.phonetic], dtype=np.float32)
        empty = counts == 0
        counts = np.maximum(counts, 1.0)
        sim = 1.0 - np.abs(counts[:, None] - counts[None, :]) / np.maximum(
            counts[:, None], counts[None, :]
        )
        return _without_empty(sim, empty)
