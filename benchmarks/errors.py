"""Error analysis of verse/chorus predictions: which mistakes, on which songs.

Given labelled songs and one prediction record per song (``{"id", "labels", "probs"}``:
the cross-validation's out-of-fold records, or a model's predictions of held-out songs),
errors are counted at the level of blocks, a block being a maximal run of equal labels:

- ``missed_chorus``: a gold chorus block in which no line is predicted chorus;
- ``extra_chorus``: a predicted chorus block in which no line is gold chorus;
- ``border_off_by_1`` / ``border_off_by_2``: a gold border (a line whose label differs from
  the line before) not predicted exactly, but matched one-to-one to a predicted border one
  (then two) lines away that matches no gold border exactly;
- ``repeated_verse_as_chorus``: a maximal run of gold-verse lines predicted chorus of which
  at least half repeat elsewhere in the song (their normalized text occurs twice), unless it
  is a border slip (at most :data:`SLIP` lines next to a gold chorus: counted as a border
  off by one or two);
- ``chorus_never_repeats``: a gold chorus block none of whose lines repeats in the song — a
  convention hazard more than a model error (``chorus_never_repeats_missed``: those of them
  that were also missed).

A block can count under several types (an extra chorus block of repeated verse lines is
both). Counts are given over all songs, by source (:func:`source_of`, e.g. ``poplyrics``
or ``training_data``) and by how repetitive a song is (the share of its lines
whose normalized text occurs more than once), with the denominators that make them rates;
each group is also scored with :func:`lyricseg.metrics.evaluate_songs`. The songs with the
lowest macro F1 (ties: higher WindowDiff first) are listed by id only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from benchmarks.cv import repeated_lines
from lyricseg.data import Song
from lyricseg.utils.errors import LyricsegError

#: Error types, in table order.
ERROR_TYPES = (
    "missed_chorus",
    "extra_chorus",
    "border_off_by_1",
    "border_off_by_2",
    "repeated_verse_as_chorus",
    "chorus_never_repeats",
)
#: Counts that the error counts are shares of.
DENOMINATORS = ("gold_chorus_blocks", "pred_chorus_blocks", "gold_borders")
#: Repetitiveness buckets: (label, lower bound inclusive, upper bound exclusive).
REPETITION_BUCKETS = (("< 0.2", 0.0, 0.2), ("0.2–0.4", 0.2, 0.4), ("≥ 0.4", 0.4, float("inf")))
#: Longest run of verse lines predicted chorus next to a gold chorus that is a border slip.
SLIP = 2
#: How many of the worst songs are listed.
WORST = 20
_PREFIX = re.compile(r"(?:(.+)[_-][^_-]*|([A-Za-z]*))")


def blocks(labels: Sequence[int]) -> list[tuple[int, int, int]]:
    """Maximal runs of equal labels as ``(start, end, label)``, ``end`` exclusive."""
    out: list[tuple[int, int, int]] = []
    for i, label in enumerate(labels):
        if out and out[-1][2] == label:
            out[-1] = (out[-1][0], i + 1, label)
        else:
            out.append((i, i + 1, label))
    return out


def _borders(labels: Sequence[int]) -> set[int]:
    return {i for i in range(1, len(labels)) if labels[i] != labels[i - 1]}


def song_errors(
    gold: Sequence[int], pred: Sequence[int], repeated: Sequence[bool]
) -> dict[str, int]:
    """Count each error type (:data:`ERROR_TYPES`) and the denominators in one song.

    Args:
        gold: ``[n]`` gold labels (0 verse, 1 chorus).
        pred: ``[n]`` predicted labels.
        repeated: ``[n]`` whether each line's normalized text occurs elsewhere in the song.

    Returns:
        Every key of :data:`ERROR_TYPES` and :data:`DENOMINATORS`, plus
        ``chorus_never_repeats_missed``.
    """
    if not len(gold) == len(pred) == len(repeated):
        raise LyricsegError(
            f"{len(gold)} gold labels, {len(pred)} predicted, {len(repeated)} repetition flags"
        )
    counts = dict.fromkeys((*ERROR_TYPES, *DENOMINATORS, "chorus_never_repeats_missed"), 0)
    for start, end, label in blocks(gold):
        if label != 1:
            continue
        counts["gold_chorus_blocks"] += 1
        missed = not any(pred[start:end])
        counts["missed_chorus"] += missed
        if not any(repeated[start:end]):
            counts["chorus_never_repeats"] += 1
            counts["chorus_never_repeats_missed"] += missed
    for start, end, label in blocks(pred):
        if label == 1:
            counts["pred_chorus_blocks"] += 1
            counts["extra_chorus"] += not any(gold[start:end])
    wrong_chorus = [int(p == 1 and g == 0) for p, g in zip(pred, gold, strict=True)]
    for start, end, flag in blocks(wrong_chorus):
        touches = (start > 0 and gold[start - 1] == 1) or (end < len(gold) and gold[end] == 1)
        slip = touches and end - start <= SLIP
        if flag and not slip and 2 * sum(repeated[start:end]) >= end - start:
            counts["repeated_verse_as_chorus"] += 1
    gold_b, pred_b = _borders(gold), _borders(pred)
    counts["gold_borders"] = len(gold_b)
    unmatched, free = sorted(gold_b - pred_b), pred_b - gold_b
    for distance in (1, 2):  # all one-line matches first, so none is taken by a two-line one
        left = []
        for b in unmatched:
            near = next((p for p in (b - distance, b + distance) if p in free), None)
            if near is None:
                left.append(b)
            else:
                free.discard(near)
                counts[f"border_off_by_{distance}"] += 1
        unmatched = left
    return counts


def source_of(song_id: str) -> str:
    """A song's source: its id without the last ``_``/``-`` part (``poplyrics_21``:
    ``poplyrics``), or, for an id without one, its leading letters (``MT0012``: ``mt``);
    lowercased, ``other`` when nothing is left."""
    match = _PREFIX.match(str(song_id))
    return (match.group(1) or match.group(2) or "other").lower()


def repetition_bucket(share: float) -> str:
    """The :data:`REPETITION_BUCKETS` label of a share of repeated lines."""
    return next(name for name, low, high in REPETITION_BUCKETS if low <= share < high)


def _group(songs: Sequence[Song], records: Sequence[dict[str, Any]], counts: list[dict]) -> dict:
    from lyricseg.metrics import evaluate_songs

    scores = evaluate_songs(
        [r["labels"] for r in records],
        [list(s.labels) for s in songs],
        [r.get("probs") or [float(x) for x in r["labels"]] for r in records],
    )
    total = {k: sum(c[k] for c in counts) for k in counts[0]} if counts else {}
    return {
        "songs": len(songs),
        "lines": sum(len(s) for s in songs),
        "counts": total,
        "macro_f1": scores["macro_f1"],
        "boundary_f1": scores["boundary_f1"],
        "window_diff": scores["window_diff"],
    }


def analyse_errors(
    songs: Sequence[Song], records: Sequence[dict[str, Any]], worst: int = WORST
) -> dict[str, Any]:
    """Count error types over songs and their predictions (see the module docstring).

    Args:
        songs: Labelled songs.
        records: One prediction record per song, in the same order (``id``, ``labels``,
            optional ``probs``; an out-of-fold record's ``gold`` is checked against the song).
        worst: How many of the worst songs to list.

    Returns:
        ``all``, ``by_source`` and ``by_repetition`` (each: ``songs``, ``lines``, ``counts``,
        ``macro_f1``, ``boundary_f1``, ``window_diff``) and ``worst`` (``id``, ``source``,
        ``macro_f1``, ``window_diff``, ``repetition``).

    Raises:
        LyricsegError: When a record does not belong to its song or a song has no labels.
    """
    from lyricseg.metrics import evaluate_songs

    if len(songs) != len(records):
        raise LyricsegError(f"{len(songs)} songs but {len(records)} prediction records")
    per_song = []
    for song, record in zip(songs, records, strict=True):
        if str(record["id"]) != str(song.id) or len(record["labels"]) != len(song):
            raise LyricsegError(f"prediction '{record['id']}' does not fit song '{song.id}'")
        if song.labels is None:
            raise LyricsegError(f"song '{song.id}' has no labels to analyse errors against")
        if "gold" in record and list(record["gold"]) != list(song.labels):
            raise LyricsegError(f"prediction '{song.id}' was scored against other labels")
        repeated = repeated_lines(song.lines)
        share = sum(repeated) / len(song) if len(song) else 0.0
        per_song.append(
            {
                "counts": song_errors(song.labels, record["labels"], repeated),
                "source": source_of(song.id),
                "bucket": repetition_bucket(share),
                "repetition": share,
            }
        )

    def group(idx: list[int]) -> dict[str, Any]:
        return _group(
            [songs[i] for i in idx], [records[i] for i in idx], [per_song[i]["counts"] for i in idx]
        )

    everything = list(range(len(songs)))
    sources = sorted({p["source"] for p in per_song})
    by_source = {
        src: group([i for i in everything if per_song[i]["source"] == src]) for src in sources
    }
    by_repetition = {}
    for name, _, _ in REPETITION_BUCKETS:
        idx = [i for i in everything if per_song[i]["bucket"] == name]
        if idx:
            by_repetition[name] = group(idx)
    ranked = []
    for i in everything:
        score = evaluate_songs(
            [records[i]["labels"]], [list(songs[i].labels)], [records[i]["labels"]]
        )
        ranked.append((score["macro_f1"], -score["window_diff"], str(songs[i].id), i, score))
    ranked.sort()
    return {
        "all": group(everything),
        "by_source": by_source,
        "by_repetition": by_repetition,
        "worst": [
            {
                "id": song_id,
                "source": per_song[i]["source"],
                "macro_f1": score["macro_f1"],
                "window_diff": score["window_diff"],
                "repetition": per_song[i]["repetition"],
            }
            for _, _, song_id, i, score in ranked[:worst]
        ],
    }
