"""Report suspicious records of a JSONL corpus without changing it.

``python -m lyricseg.data.audit FILE [FILE ...] [--max-chars 300] [--json OUT]``

Flags songs with very long lines (prose passages rather than lyrics), songs in which no line
repeats at all (no chorus signal to learn from), exact duplicate songs (same lines, within or
across the given files) and labels that look odd (a chorus with no repeated line).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from lyricseg.data.songs import Song, read_jsonl
from lyricseg.features.text import SongText
from lyricseg.utils.errors import LyricsegError


def audit_songs(songs_by_file: dict[str, list[Song]], max_chars: int = 300) -> list[dict[str, Any]]:
    """Find suspicious records.

    Args:
        songs_by_file: Songs of each file, keyed by file name.
        max_chars: A line longer than this marks the song as prose-like.

    Returns:
        One finding per (song, issue): ``file``, ``id``, ``issue`` and ``detail``.
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
    return findings


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
    lines.append("")
    lines += [f"{f['file']}  {f['id']}  [{f['issue']}] {f['detail']}" for f in findings]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m lyricseg.data.audit", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="JSONL corpus files")
    parser.add_argument("--max-chars", type=int, default=300, help="long-line threshold")
    parser.add_argument("--json", type=Path, default=None, help="also write findings as JSON")
    args = parser.parse_args(argv)
    try:
        songs = {str(f): read_jsonl(f, require_labels=False) for f in args.files}
    except LyricsegError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    findings = audit_songs(songs, args.max_chars)
    print(format_report(findings, {k: len(v) for k, v in songs.items()}))
    if args.json:
        from lyricseg.utils.io import atomic_write_json

        atomic_write_json(args.json, findings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
