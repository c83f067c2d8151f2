"""Stanza borders: where does each stanza start, given a song's lines without blank lines?

This is the task of the published lyrics-segmentation work. The held-out artists of the
stanza corpus (:func:`lyricseg.data.stanzas.stanza_split`) are tagged by a model in this
process, and its section starts (the section-start head) are scored against the stanza
starts that the blank lines marked: border precision, recall, F1 exact and within one line,
WindowDiff and Pk, by :func:`lyricseg.metrics.evaluate_sections` (the scorer of
``predict.py``'s section metrics). Rows:

- a border every four lines (a baseline without a model);
- the model with the blank lines hidden (``Song.breaks`` unknown);
- the model told half of the true breaks, drawn at random with a fixed seed (rounded up),
  the other lines unknown (``Song.breaks_complete=False``: "these breaks, maybe more");
- the same half given as a text would give it, every other line "no break" (the blank
  lines of a transcription that lost half of them);
- the model told all of them.

A model that reads breaks should score higher the more it is told, and never lose its
borders: ``pred_per_gold`` (predicted borders per true border) and ``hidden_recall`` (the
share of the borders it was not told that it still finds) say if it does. Each row
is also scored per language, by a stop-word guess
(:func:`lyricseg.features.language.guess_language`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lyricseg.data import Song
from lyricseg.features.language import LANGUAGES, guess_language
from lyricseg.utils.errors import LyricsegError

log = logging.getLogger("benchmarks.stanzas")

#: Rows of half the breaks: the others unknown, or the others said absent (as a text).
HALF = "with half of its breaks (the others unknown)"
HALF_AS_TEXT = "with half of its breaks, the others said absent"
#: The baseline's stanza length in lines.
BASELINE_EVERY = 4


def gold_starts(song: Song) -> list[int]:
    """The stanza starts of a song: line 0 and every line a blank line stood before."""
    if song.breaks is None:
        raise LyricsegError(f"song '{song.id}' has no stanza breaks to score against")
    return [0, *song.breaks]


def every_n_starts(n_lines: int, every: int = BASELINE_EVERY) -> list[int]:
    """The baseline: a stanza starts every ``every`` lines."""
    return list(range(0, n_lines, every))


def _flags(starts: Sequence[int], n: int) -> list[int]:
    flags = [0] * n
    for i in starts:
        flags[i] = 1
    return flags


def score_starts(
    pred: Sequence[Sequence[int]], gold: Sequence[Sequence[int]], lengths: Sequence[int]
) -> dict[str, float | int]:
    """Score predicted stanza starts against true ones (borders are the starts after line 0).

    Args:
        pred: Per song, the indices of the lines predicted to start a stanza.
        gold: Per song, the indices of the lines that start one.
        lengths: Per song, its number of lines.

    Returns:
        ``border_precision``, ``border_recall``, ``border_f1``, ``border_f1_tol1``,
        ``window_diff``, ``pk``; ``songs``, ``gold_borders``, ``pred_borders`` and
        ``pred_per_gold`` (predicted borders per true one).
    """
    from lyricseg.metrics import evaluate_sections
    from lyricseg.metrics.sections import SECTION_BORDER_KEYS

    pred_flags = [_flags(p, n) for p, n in zip(pred, lengths, strict=True)]
    gold_flags = [_flags(g, n) for g, n in zip(gold, lengths, strict=True)]
    # the class scores are not asked for: every gold class unknown (-1) leaves them out
    scores = evaluate_sections(
        [[0] * n for n in lengths],
        [[-1] * n for n in lengths],
        pred_flags,
        gold_flags,
        classes=("stanza",),
    )
    n_gold = sum(sum(f[1:]) for f in gold_flags)
    n_pred = sum(sum(f[1:]) for f in pred_flags)
    out: dict[str, float | int] = {
        key.replace("section_", "", 1): scores[key] for key in SECTION_BORDER_KEYS
    }
    out.update(
        songs=len(lengths),
        gold_borders=n_gold,
        pred_borders=n_pred,
        pred_per_gold=n_pred / n_gold if n_gold else 0.0,
    )
    return out


def with_some_breaks(songs: Sequence[Song], seed: int, complete: bool = False) -> list[Song]:
    """Each song told half of its true breaks (rounded up), drawn with one seeded generator.

    ``complete=False`` marks them as some of the breaks (the other lines unknown); True as
    all of them (the other lines "no break", as a text's blank lines say).
    """
    rng = random.Random(seed)
    out = []
    for song in songs:
        breaks = song.breaks or ()
        kept = sorted(rng.sample(list(breaks), (len(breaks) + 1) // 2))
        out.append(dataclasses.replace(song, breaks=tuple(kept), breaks_complete=complete))
    return out


def hidden_recall(
    pred: Sequence[Sequence[int]], gold: Sequence[Sequence[int]], given: Sequence[Song]
) -> float:
    """Share of the true borders not given as input that the prediction starts exactly.

    A model that only repeats the breaks it is told scores 0 here, however many it is told.
    """
    found = hidden = 0
    for p, g, song in zip(pred, gold, given, strict=True):
        missing = set(g[1:]) - set(song.breaks or ())
        hidden += len(missing)
        found += len(missing & set(p))
    return found / hidden if hidden else 0.0


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op threads, then restore the previous setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_stanzas(
    ckpt: str | Path | None, songs: Sequence[Song], seed: int = 0, threads: int = 1
) -> dict[str, Any]:
    """Score a model's section starts on held-out songs with stanza breaks (module docstring).

    Args:
        ckpt: The model; None for the one shipped with lyricseg.
        songs: Held-out songs whose ``breaks`` are the true stanza breaks.
        seed: Seed of the half of the breaks given in the third row.
        threads: Torch intra-op threads while predicting.

    Returns:
        ``songs``, ``lines``, ``seed``, ``rows`` (name → :func:`score_starts`),
        ``languages`` (language → ``songs`` and its own ``rows``) and ``predict_s`` (seconds
        per model row).

    Raises:
        LyricsegError: When the model has no section-start head, or a song has no breaks.
    """
    from lyricseg.inference import Predictor

    songs = list(songs)
    gold = [gold_starts(s) for s in songs]
    lengths = [len(s) for s in songs]
    predicted: dict[str, list[list[int]]] = {
        f"a border every {BASELINE_EVERY} lines (baseline)": [every_n_starts(n) for n in lengths]
    }
    inputs = {
        "without breaks": [dataclasses.replace(s, breaks=None) for s in songs],
        HALF: with_some_breaks(songs, seed),
        HALF_AS_TEXT: with_some_breaks(songs, seed, complete=True),
        "with all its breaks": songs,
    }
    predict_s = {}
    with torch_threads(threads):
        predictor = Predictor.from_checkpoint(ckpt)
        for name, variant in inputs.items():
            log.info("stanzas: predicting %d songs %s", len(variant), name)
            start = time.perf_counter()
            records = predictor.predict(variant)
            predict_s[name] = time.perf_counter() - start
            if any(r.section_starts is None for r in records):
                raise LyricsegError(
                    f"the model {ckpt or '(shipped)'} has no section-start head; the stanza "
                    "part scores its section starts"
                )
            predicted[name] = [list(r.section_starts) for r in records]

    rows = {name: score_starts(p, gold, lengths) for name, p in predicted.items()}
    for name in ("without breaks", HALF, HALF_AS_TEXT):
        rows[name]["hidden_recall"] = hidden_recall(predicted[name], gold, inputs[name])
    languages = [guess_language(s.lines) for s in songs]
    by_language = {}
    for lang in [*LANGUAGES, "other"]:
        idx = [i for i, x in enumerate(languages) if x == lang]
        if idx:
            by_language[lang] = {
                "songs": len(idx),
                "rows": {
                    name: score_starts(
                        [p[i] for i in idx], [gold[i] for i in idx], [lengths[i] for i in idx]
                    )
                    for name, p in predicted.items()
                },
            }
    return {
        "songs": len(songs),
        "lines": sum(lengths),
        "seed": seed,
        "rows": rows,
        "languages": by_language,
        "predict_s": predict_s,
    }
