"""Report suspicious records of a JSONL corpus without changing it.

``python -m lyricseg.commands.audit FILE [FILE ...] [--max-chars 300] [--near 0.5] [--json OUT]``

Flags songs with very long lines (prose passages rather than lyrics), songs in which no line
repeats at all (no chorus signal to learn from), exact duplicate songs (same lines, within or
across the given files), labels that look odd (a chorus with no repeated line), and
near-duplicate pairs of songs within and across the files (see :func:`near_duplicate_pairs`):
the same lyrics with other line breaks or small edits, which leak between a training and an
evaluation split.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from lyricseg.data.songs import Song
from lyricseg.features.text import SongText
from lyricseg.utils.errors import LyricsegError


def normalized_lines(song: Song) -> list[str]:
    """A song's lines as near-duplicate detection compares them.

    Normalized by :class:`~lyricseg.features.text.SongText` (lowercase, punctuation
    stripped); lines left empty by normalization are dropped.
    """
    return [line for line in SongText.from_lines(song.lines).norm if line]


def near_duplicate_pairs(
    songs: Sequence[Song], threshold: float = 0.5
) -> list[tuple[int, int, float]]:
    """Pairs of near-duplicate songs, found through an inverted index over normalized lines.

    The share of a pair is the fraction of the shorter song's normalized lines (see
    :func:`normalized_lines`; counted as they occur, so a chorus line sung three times
    counts three times) whose text also occurs in the other song; for two songs of the same
    length, the larger of the two fractions. Only songs sharing a line are ever compared:
    the index maps each line to the songs holding it, so the cost grows with the sum over
    lines of (songs holding it)², not with all pairs of songs times their lines.

    Args:
        songs: The songs, from one or several files.
        threshold: Smallest share reported, in ``(0, 1]``.

    Returns:
        ``(i, j, share)`` with ``i < j`` indices into ``songs``, by share descending.

    Raises:
        LyricsegError: For a threshold outside ``(0, 1]``.
    """
    if not 0 < threshold <= 1:
        raise LyricsegError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    counts = [Counter(normalized_lines(song)) for song in songs]
    sizes = [sum(c.values()) for c in counts]
    holders: dict[str, list[int]] = defaultdict(list)
    for i, lines in enumerate(counts):
        for line in lines:
            holders[line].append(i)
    # (i, j) -> [lines of i found in j, lines of j found in i], counted with repetition
    covered: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for line, songs_with_line in holders.items():
        for i, j in itertools.combinations(songs_with_line, 2):
            cover = covered[i, j]
            cover[0] += counts[i][line]
            cover[1] += counts[j][line]
    pairs = []
    for (i, j), (i_in_j, j_in_i) in covered.items():
        if sizes[i] != sizes[j]:
            share = i_in_j / sizes[i] if sizes[i] < sizes[j] else j_in_i / sizes[j]
        else:
            share = max(i_in_j, j_in_i) / sizes[i]
        if share >= threshold:
            pairs.append((i, j, share))
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))


def _near_duplicate_findings(
    songs_by_file: dict[str, list[Song]], threshold: float
) -> list[dict[str, Any]]:
    where = [(name, song.id) for name, songs in songs_by_file.items() for song in songs]
    flat = [song for songs in songs_by_file.values() for song in songs]
    findings = []
    for i, j, share in near_duplicate_pairs(flat, threshold):
        (file_a, id_a), (file_b, id_b) = where[i], where[j]
        findings.append(
            {
                "file": file_a,
                "id": id_a,
                "issue": "near-duplicate",
                "detail": f"share {share:.2f} with {id_b} in {file_b}",
                "other_file": file_b,
                "other_id": id_b,
                "share": round(share, 4),
            }
        )
    return findings


def audit_songs(
    songs_by_file: dict[str, list[Song]], max_chars: int = 300, near_threshold: float = 0.5
) -> list[dict[str, Any]]:
    """Find suspicious records.

    Args:
        songs_by_file: Songs of each file, keyed by file name.
        max_chars: A line longer than this marks the song as prose-like.
        near_threshold: Smallest share of a near-duplicate pair (see
            :func:`near_duplicate_pairs`).

    Returns:
        One finding per (song, issue): ``file``, ``id``, ``issue`` and ``detail``; a
        near-duplicate finding also has ``other_file``, ``other_id`` and ``share``.
    """
    findings: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
    for name, songs in songs_by_file.items():
        for song in songs:
            longest = max(len(line) for line in song.lines)
            if longest > max_chars:
                findings.append(
                    {
                        "file": name,
                        "id": song.id,
                        "issue": "very long lines",
                        "detail": f"longest line {longest} chars "
                        f"({sum(len(x) > max_chars for x in song.lines)} lines > {max_chars})",
                    }
                )
            norm = SongText.from_lines(song.lines).norm
            repeated = len(norm) - len(set(norm))
            if repeated == 0 and len(norm) > 1:
                findings.append(
                    {
                        "file": name,
                        "id": song.id,
                        "issue": "no repetition",
                        "detail": f"{len(norm)} lines, none repeated",
                    }
                )
            if song.labels and repeated == 0 and sum(song.labels) > 0:
                findings.append(
                    {
                        "file": name,
                        "id": song.id,
                        "issue": "chorus without repetition",
                        "detail": f"{sum(song.labels)} chorus lines but no repeated line",
                    }
                )
            seen[tuple(norm)].append((name, song.id))
    for copies in seen.values():
        for name, song_id in copies[1:]:
            first = copies[0]
            findings.append(
                {
                    "file": name,
                    "id": song_id,
                    "issue": "duplicate song",
                    "detail": f"same lines as {first[1]} in {first[0]}",
                }
            )
    return findings + _near_duplicate_findings(songs_by_file, near_threshold)


def format_report(findings: list[dict[str, Any]], totals: dict[str, int]) -> str:
    """Plain-text report: counts per issue, then one line per finding."""
    lines = [f"{name}: {n} songs" for name, n in totals.items()]
    by_issue: dict[str, int] = defaultdict(int)
    for f in findings:
        by_issue[f["issue"]] += 1
    lines.append("")
    lines += [f"{issue:<28}{count:>6}" for issue, count in sorted(by_issue.items())] or [
        "no suspicious records"
    ]
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for f in findings:
        if f["issue"] == "near-duplicate":
            pairs[f["file"], f["other_file"]] += 1
    if pairs:
        lines.append("")
        lines.append("near-duplicate pairs by files:")
        lines += [f"  {a} / {b}: {n}" for (a, b), n in sorted(pairs.items())]
    lines.append("")
    lines += [f"{f['file']}  {f['id']}  [{f['issue']}] {f['detail']}" for f in findings]
    return "\n".join(lines)
