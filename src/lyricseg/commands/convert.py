"""``python -m lyricseg.commands.convert INPUT... --out corpus.jsonl``: import headed lyrics.

Options: ``--map FILE``, ``--report FILE``, ``--strict``, ``--expand-repeats``, ``--quiet``
(see :mod:`lyricseg.data.ingest` and ``docs/sections.md``). Exit status 2 with one error line
on a user error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from lyricseg.data.ingest import SUFFIXES, convert_paths, log_summary, write_corpus
from lyricseg.sections import SectionMap
from lyricseg.utils.errors import LyricsegError
from lyricseg.utils.io import atomic_write_json, check_outputs


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m lyricseg.commands.convert",
        description="Convert headed lyrics (Genius-style text, lyricsgenius JSON) to JSONL.",
    )
    parser.add_argument("inputs", nargs="+", help="text/JSON files or directories")
    parser.add_argument("--out", required=True, type=Path, help="output JSONL corpus")
    parser.add_argument(
        "--map", type=Path, default=None, help="section map YAML (default: packaged)"
    )
    parser.add_argument("--report", type=Path, default=None, help="also write the report as JSON")
    parser.add_argument("--strict", action="store_true", help="an unmapped header is an error")
    parser.add_argument(
        "--expand-repeats",
        action="store_true",
        help="a header with no lines repeats the last block with that header",
    )
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 on a user error)."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="[%(name)s][%(levelname)s] - %(message)s",
        stream=sys.stderr,
    )
    try:
        check_outputs(
            [*args.inputs, args.map],
            [args.out, args.report],
            reads=lambda path: path.suffix.lower() in SUFFIXES,
        )
        section_map = SectionMap.load(args.map)
        records, report = convert_paths(
            args.inputs, section_map, strict=args.strict, expand_repeats=args.expand_repeats
        )
        write_corpus(args.out, records)
        if args.report is not None:
            atomic_write_json(args.report, report.as_dict())
    except LyricsegError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write {err.filename or args.report}: {err.strerror}", file=sys.stderr)
        return 2
    log_summary(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
