"""``python -m lyricseg.commands.stanzas --source DIR OUT_DIR``: the by-artist stanza split.

Writes ``OUT_DIR/train.jsonl``, ``OUT_DIR/val.jsonl`` and ``OUT_DIR/split.json`` (see
:mod:`lyricseg.data.stanzas`); exit status 2 with one error line on a user error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lyricseg.data import stanzas
from lyricseg.utils.errors import LyricsegError


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m lyricseg.commands.stanzas", description=stanzas.__doc__
    )
    parser.add_argument("out", type=Path, help="folder to write train.jsonl and val.jsonl into")
    parser.add_argument("--source", type=Path, required=True, help="the stanza corpus folder")
    parser.add_argument(
        "--share", type=float, default=stanzas.HELD_OUT_SHARE, help="artists held out"
    )
    args = parser.parse_args(argv)
    try:
        summary = stanzas.write_stanza_split(args.source, args.out, args.share)
    except LyricsegError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out}: train {summary['train']['songs']} songs "
        f"({summary['train']['artists']} artists), val {summary['val']['songs']} songs "
        f"({summary['val']['artists']} artists)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
