"""Sounds of a word from its spelling: rhyme and phone keys for any Latin-script language.

The CMU dictionary only knows English. For other words a crude grapheme-to-sound rewriting
gives keys that are equal when two words *sound* alike in the common cases
(``Herz``/``Schmerz``, ``Jahre``/``Haare``, ``corazón``/``razón``, ``amour``/``toujours``),
which is all the rhyme and phonetic views compare. It is no pronunciation: the symbols only
need to be consistent within a song.

Steps, in order (:func:`spelled_sound`):

1. casefold (``ß`` → ``ss``); ``ä`` → ``e``, ``ö`` → ``Ø`` and ``ü`` → ``Y`` (vowels of their
   own: ``über`` does not rhyme with ``Uber``), ``œ``/``æ`` → ``e``, ``ç`` → ``s``,
   ``ñ`` → ``N``; in French ``é è ê`` → ``Ɛ`` (no silent ``e``); every other accent is
   stripped, the vowel staying the same vowel (``á`` → ``a``); only letters are kept;
2. doubled letters collapse (``ll`` → ``l``, ``ss`` → ``s``, ``ee`` → ``e``);
3. digraphs become one symbol: ``sch``/``sh`` → ``S``, ``ch`` → ``X``, ``ph`` → ``f``,
   ``ck`` → ``k``, ``qu`` → ``kw``, ``th`` → ``T``, ``tz`` → ``ts``; vowels ``ei``/``ai``/
   ``ey``/``ay`` → ``A``, ``ie`` → ``i``, ``ou`` → ``u``, ``au``/``ow`` → ``W``,
   ``eu``/``oi`` → ``O``;
4. by language: German drops the lengthening ``h`` after a vowel (``Jahr`` → ``jar``) and
   devoices a final ``b d g`` (``Geld`` → ``gelt``, rhyming with ``Welt``);
   French drops its silent endings (``-ent`` after another vowel group, final ``s x t d z p``,
   then a final plain ``e`` after another vowel group; ``-er``/``-ez`` sound ``Ɛ``); English
   drops a silent final ``e`` after one consonant (``vibe`` → ``vib``).

The rhyme key is the last vowel group and what follows it (its coda): ``Herz`` → ``erz``,
``Liebe`` → ``e``, ``amor`` → ``or``, ``toujours`` → ``ur``. Counting from the stressed
vowel instead (``Liebe`` → ``ibe``) is closer to what poets call a rhyme, but on the stanza
corpus it told fewer lines of a stanza apart from the next (``benchmarks/sounds.py``).
"""

from __future__ import annotations

import functools
import re
import unicodedata

#: Vowel symbols after rewriting (the upper-case ones come from steps 1 and 3).
VOWELS = "aeiouyAWOYØƐ"
_VOWEL_GROUP = re.compile(f"[{VOWELS}]+")
_LETTERS = str.maketrans({"ä": "e", "ö": "Ø", "ü": "Y", "œ": "e", "æ": "e", "ç": "s", "ñ": "N"})
_FRENCH_LETTERS = str.maketrans({"é": "Ɛ", "è": "Ɛ", "ê": "Ɛ"})
_DOUBLE = re.compile(r"(.)\1+")
_DIGRAPHS = {
    "sch": "S",
    "sh": "S",
    "ch": "X",
    "ph": "f",
    "ck": "k",
    "qu": "kw",
    "th": "T",
    "tz": "ts",
    "ei": "A",
    "ai": "A",
    "ey": "A",
    "ay": "A",
    "ie": "i",
    "ou": "u",
    "au": "W",
    "ow": "W",
    "eu": "O",
    "oi": "O",
}
_DIGRAPH = re.compile("|".join(_DIGRAPHS))
_GERMAN_LONG_H = re.compile(f"(?<=[{VOWELS}])h")
_GERMAN_DEVOICED = {"b": "p", "d": "t", "g": "k"}
_ENGLISH_SILENT_E = re.compile(f"(?<=[{VOWELS}][^{VOWELS}])e$")


def _letters(word: str, language: str) -> str:
    """Step 1: the word's letters, casefolded, with accents mapped or stripped."""
    folded = word.casefold().translate(_LETTERS)
    if language == "fr":
        folded = folded.translate(_FRENCH_LETTERS)
    decomposed = unicodedata.normalize("NFD", folded)
    return "".join(c for c in decomposed if c.isalpha() and not unicodedata.combining(c))


def _has_vowel(sound: str, end: int) -> bool:
    """Whether ``sound[:end]`` holds a vowel group."""
    return _VOWEL_GROUP.search(sound, 0, max(end, 0)) is not None


def _french(sound: str) -> str:
    """Step 4 in French: ``chantent`` → ``Xan``, ``toutes`` → ``tut``, ``aimer`` → ``AmƐ``."""
    if sound.endswith("ent") and _has_vowel(sound, len(sound) - 3):
        sound = sound[:-3]
    elif sound.endswith(("er", "ez")) and _has_vowel(sound, len(sound) - 2):
        sound = sound[:-2] + "Ɛ"
    stripped = sound.rstrip("sxtdzp")
    if _VOWEL_GROUP.search(stripped):
        sound = stripped
    if sound.endswith("e") and _has_vowel(sound, len(sound) - 1):
        sound = sound[:-1]
    return sound


@functools.lru_cache(maxsize=200_000)
def spelled_sound(word: str, language: str = "other") -> tuple[str, int, str]:
    """Phone string, syllable count and rhyme key of one word, from its spelling.

    Args:
        word: One token (any case; punctuation is dropped).
        language: A :data:`~lyricseg.features.language.LANGUAGES` code or ``other``.

    Returns:
        ``(sound, syllables, rhyme)``: the rewritten word (module docstring), its vowel groups
        (at least 1) and its last vowel group onwards. A token without letters (``24``) is
        its own key; a word without vowels (``hmm``) rhymes with its whole sound.
    """
    letters = _letters(word, language)
    if not letters:
        return word, 1, word
    sound = _DIGRAPH.sub(lambda m: _DIGRAPHS[m.group()], _DOUBLE.sub(r"\1", letters))
    if language == "de":
        sound = _GERMAN_LONG_H.sub("", sound)
        sound = sound[:-1] + _GERMAN_DEVOICED.get(sound[-1], sound[-1])
    elif language == "fr":
        sound = _french(sound)
    elif language == "en" and _has_vowel(sound, len(sound) - 2):
        sound = _ENGLISH_SILENT_E.sub("", sound)
    groups = list(_VOWEL_GROUP.finditer(sound))
    rhyme = sound[groups[-1].start() :] if groups else sound
    return sound, max(1, len(groups)), rhyme
