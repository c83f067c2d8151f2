"""``python -m lyricseg.commands.audit FILE... [--max-chars 300] [--near 0.5] [--json OUT]``.

Reports suspicious records of JSONL corpora (see :mod:`lyricseg.data.audit`); exit status 2
with one error line on a user error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lyricseg.data import audit
from lyricseg.data.songs import read_jsonl
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write_json


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m lyricseg.commands.audit", description=audit.__doc__
    )
    parser.add_argument("files", nargs="+", type=Path, help="JSONL corpus files")
    parser.add_argument("--max-chars", type=int, default=300, help="long-line threshold")
    parser.add_argument(
        "--near",
        type=float,
        default=0.5,
        help="near-duplicate threshold: share of the shorter song's lines found in the other",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write findings as JSON")
    args = parser.parse_args(argv)
    try:
        songs = {str(f): read_jsonl(f, require_labels=False) for f in args.files}
        findings = audit.audit_songs(songs, args.max_chars, args.near)
    except LyricsegError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(audit.format_report(findings, {k: len(v) for k, v in songs.items()}))
    if args.json:
        atomic_write_json(args.json, findings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
