"""``python -m lyricseg.migrate OLD.yaml [--out FILE] [--check]``: convert an old config.

Without ``--out`` the experiment is printed to stdout. Keys with no lyricseg equivalent are
logged as warnings and kept as comments in the output. ``--check`` composes the result with
``train.yaml`` of the config shipped with lyricseg (or ``--config-dir``) and builds its loss
and features; exit status 1 when that fails, 2 for an unreadable input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from lyricseg.migrate.check import compose_experiment
from lyricseg.migrate.legacy_config import convert_file
from lyricseg.utils import atomic_write, get_logger
from lyricseg.utils.errors import exit_on_user_error

log = get_logger("lyricseg.migrate")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m lyricseg.migrate",
        description="Convert an earlier single-file training config into a lyricseg experiment.",
    )
    parser.add_argument("config", help="the earlier-format YAML file")
    parser.add_argument("--out", default=None, help="experiment file to write (default: stdout)")
    parser.add_argument("--check", action="store_true", help="compose the result with train.yaml")
    parser.add_argument(
        "--config-dir",
        default=None,
        help="config folder for --check (default: the one shipped with lyricseg)",
    )
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
    """Convert, write or print, optionally check; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="[%(name)s][%(levelname)s] - %(message)s", stream=sys.stderr
    )
    migration = convert_file(args.config)
    text = migration.to_yaml()
    log.info("Mapped %d key(s) of %s", len(migration.mapped), args.config)
    for key, reason in migration.unmapped.items():
        log.warning("Not mapped: %s (%s)", key, reason)
    for note in migration.notes:
        log.warning("Note: %s", note)
    if args.out:
        with atomic_write(args.out) as handle:
            handle.write(text)
        log.info("Wrote %s", args.out)
    else:
        sys.stdout.write(text)
    if args.check:
        name = Path(args.out).stem if args.out else "migrated"
        try:
            compose_experiment(text, name=name, config_dir=args.config_dir)
        except Exception as err:  # any composition or build error is the check's answer
            log.error("Check failed: %s", err)
            return 1
        log.info("Check passed: train.yaml + experiment=%s composes and builds its loss", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
