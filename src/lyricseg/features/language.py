"""A song's language, guessed from its most frequent small words (no model, no download).

The guess only has to be good enough to pick how words are turned into sounds
(:mod:`lyricseg.features.spelling`) and to break scores down by language; it knows English,
German, Spanish, French, Portuguese and Italian, and says ``other`` for anything else or for a
song too short to tell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

#: Languages the guess knows; anything else is ``other``.
LANGUAGES = ("en", "de", "es", "fr", "pt", "it")
#: Frequent words that tell the languages apart. A word of two of them is left out ("die",
#: "was" are English too; "la", "de", "que", "tu", "se", "me" are Romance; "es" is German;
#: "il", "non", "ma" French and Italian; "sei" German and Italian; "amor", "nada", "todo",
#: "como", "para", "porque" Spanish and Portuguese; "con", "una", "lo" Spanish and Italian).
_WORDS = {
    "en": "the and you i to of is it my that your we be on for this with are all what don t can "
    "just never when now know love i'm it's oh",
    "de": "und ich der das nicht du ist ein eine mich mir dich dir wir zu mit auf den dem auch "
    "noch nur wie sich bin hab kein wenn doch aus immer",
    "es": "el los las y más pero yo sin tú qué soy estoy quiero cuando ahora corazón hay muy "
    "eres siempre",
    "fr": "le les et je il qui pas ne est des dans pour moi toi mon ma nous vous sur avec c'est "
    "j'ai au ce une suis mais plus tout elle",
    "pt": "não eu você com uma os meu minha isso tudo também seu sua ele ela vou pra ao sou "
    "estou coração agora",
    "it": "che di io sono questo della anche ancora perché più tutto mio gli nel cosa mia "
    "voglio niente ogni hai sto ci lei lui cuore",
}
STOP_WORDS: dict[str, frozenset[str]] = {lang: frozenset(w.split()) for lang, w in _WORDS.items()}
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {
    word: tuple(lang for lang in LANGUAGES if word in STOP_WORDS[lang])
    for word in set().union(*STOP_WORDS.values())
}
#: The guess needs this many stop-word hits and this share of the song's words.
MIN_HITS, MIN_SHARE = 3, 0.05


def guess_language_of_words(words: Iterable[str]) -> str:
    """The language (:data:`LANGUAGES`) with the most stop words among lowercase tokens.

    ``other`` when the best language has fewer than :data:`MIN_HITS` hits or under
    :data:`MIN_SHARE` of the words (another language, or too few words to tell). A tie goes
    to the language listed first.
    """
    counts = Counter(words)
    hits = Counter(dict.fromkeys(LANGUAGES, 0))
    for word in counts.keys() & _LANGUAGES_OF.keys():
        for lang in _LANGUAGES_OF[word]:
            hits[lang] += counts[word]
    lang, n = hits.most_common(1)[0]
    return lang if n >= MIN_HITS and n >= MIN_SHARE * counts.total() else "other"


def guess_language(lines: Sequence[str]) -> str:
    """The language of a song's lines (see :func:`guess_language_of_words`)."""
    from lyricseg.features.text import SongText

    return guess_language_of_words(
        w for line in SongText.from_lines(list(lines)).words for w in line
    )
