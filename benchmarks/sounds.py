"""How much sound evidence the rhyme view has, by language, with and without spelled sounds.

    python -m benchmarks.sounds --corpus ../shared/data/stanzas [--out sounds.json]

On the held-out artists of a stanza corpus (:func:`lyricseg.data.stanzas.stanza_split`), for
each ``oov_sounds`` mode of :class:`~lyricseg.features.FeatureExtractor` and each guessed
language (:func:`~lyricseg.features.language.guess_language`):

- ``keyed``: the share of lines whose last word gets a sound key (a CMU entry, or a spelled
  one; ``none`` gives other words their raw letters, which is no sound);
- ``rhyme_within`` / ``rhyme_across``: among pairs of lines one or two lines apart whose
  last words differ, the share whose rhyme keys are equal, when both lines are in one
  stanza / when a stanza starts between them; ``lift`` is their ratio, and ``info_mbit``
  the mutual information (millibits per pair) between "the keys are equal" and "the lines
  share a stanza", which grows with both how often rhymes are found and how well they keep
  to stanzas. Rhymes that hold within stanzas and not across their starts are what a rhyme
  view can tell borders by.

Nothing of the corpus is written: only counts and shares.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lyricseg.data import Song
from lyricseg.features.language import LANGUAGES
from lyricseg.features.text import OOV_SOUNDS, SongText

log = logging.getLogger("benchmarks.sounds")

#: Line distances of the pairs compared (couplets and alternating rhymes).
DISTANCES = (1, 2)


def _stanza_ids(song: Song) -> list[int]:
    breaks = set(song.breaks or ())
    ids, current = [], 0
    for i in range(len(song.lines)):
        current += i in breaks
        ids.append(current)
    return ids


def song_counts(song: Song, oov_sounds: str) -> tuple[str, dict[str, int]]:
    """The song's guessed language and its counts (module docstring) under one mode."""
    text = SongText.from_lines(list(song.lines), oov_sounds=oov_sounds)
    cmu = text.cmu_words
    last = [words[-1] if words else "" for words in text.words]
    rhymes = [p[-1][2] if p else "" for p in text.phonetic]
    counts = defaultdict(int)
    for word in last:
        if word:
            counts["lines"] += 1
            in_cmu = word in cmu
            counts["cmu"] += in_cmu
            counts["keyed"] += in_cmu or oov_sounds != "none"
    stanza = _stanza_ids(song)
    for d in DISTANCES:
        for i in range(len(last) - d):
            j = i + d
            if not rhymes[i] or not rhymes[j] or last[i] == last[j]:
                continue
            where = "within" if stanza[i] == stanza[j] else "across"
            counts[f"pairs_{where}"] += 1
            counts[f"rhyme_{where}"] += rhymes[i] == rhymes[j]
    return text.language, counts


def _shares(counts: dict[str, int]) -> dict[str, Any]:
    def share(a: str, b: str) -> float:
        return counts[a] / counts[b] if counts[b] else 0.0

    within, across = share("rhyme_within", "pairs_within"), share("rhyme_across", "pairs_across")
    cells = {  # (same stanza, rhyme) -> pairs
        (w, r): counts[f"{'rhyme' if r else 'pairs'}_{'within' if w else 'across'}"]
        - (0 if r else counts[f"rhyme_{'within' if w else 'across'}"])
        for w in (True, False)
        for r in (True, False)
    }
    total = sum(cells.values())
    info = 0.0
    for (w, r), n in cells.items():
        if n:
            p_w = (cells[w, True] + cells[w, False]) / total
            p_r = (cells[True, r] + cells[False, r]) / total
            info += n / total * math.log2(n / total / (p_w * p_r))
    return {
        "songs": counts["songs"],
        "lines": counts["lines"],
        "cmu": share("cmu", "lines"),
        "keyed": share("keyed", "lines"),
        "pairs_within": counts["pairs_within"],
        "pairs_across": counts["pairs_across"],
        "rhyme_within": within,
        "rhyme_across": across,
        "lift": within / across if across else 0.0,
        "info_mbit": 1000 * info,
    }


def measure(songs: Sequence[Song]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per mode and language (and ``all``), the figures of the module docstring."""
    out = {}
    for mode in OOV_SOUNDS:
        totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for song in songs:
            language, counts = song_counts(song, mode)
            for key in (language, "all"):
                totals[key]["songs"] += 1
                for name, value in counts.items():
                    totals[key][name] += value
        order = [*LANGUAGES, "other", "all"]
        out[mode] = {lang: _shares(totals[lang]) for lang in order if lang in totals}
    return out


def table(result: dict[str, dict[str, dict[str, Any]]]) -> str:
    """A Markdown table of :func:`measure`'s result, one row per language and mode."""
    head = (
        "| language | mode | songs | lines | CMU key | sound key | rhyme within | across | lift "
        "| information (mbit/pair) |"
    )
    rows = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    languages = next(iter(result.values()))
    for lang in languages:
        for mode, figures in result.items():
            f = figures[lang]
            rows.append(
                f"| {lang} | {mode} | {f['songs']} | {f['lines']} | {f['cmu']:.3f} | "
                f"{f['keyed']:.3f} | {f['rhyme_within']:.3f} | {f['rhyme_across']:.3f} | "
                f"{f['lift']:.2f} | {f['info_mbit']:.2f} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Measure the held-out part of ``--corpus`` and print the table (and ``--out`` JSON)."""
    from lyricseg.data.stanzas import read_stanza_corpus, stanza_split
    from lyricseg.utils.errors import LyricsegError
    from lyricseg.utils.io import atomic_write_json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.sounds", description=__doc__)
    parser.add_argument("--corpus", type=Path, required=True, help="a stanza corpus folder")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        songs, meta = read_stanza_corpus(args.corpus)
    except LyricsegError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _, held = stanza_split(songs, meta)
    log.info("measuring %d held-out songs of %s", len(held), args.corpus)
    result = measure(held)
    if args.out:
        atomic_write_json(args.out, {"corpus": str(args.corpus), "songs": len(held), **result})
    sys.stdout.write(table(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
