"""``python -m lyricseg.analysis RUN_OR_SWEEP_DIR [...] [--out DIR]``: compare training runs.

Options: ``--source auto|csv|tensorboard`` (where metrics are read from), ``--quiet``.

Writes into ``DIR`` (default ``<first dir>/analysis/``): ``comparison.md``/``.csv``,
``recommendations.md``, ``component_balance.png``, ``boundary_vs_f1.png``,
``f1_vs_windowdiff.png``, ``confidence_control.png`` and ``loss_components/<run>.png``.
Exit status 2 with one error line when no run is found.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from lyricseg.analysis.analyze import analyze
from lyricseg.analysis.runs import SOURCES
from lyricseg.utils import get_logger
from lyricseg.utils.errors import exit_on_user_error

log = get_logger("lyricseg.analysis")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m lyricseg.analysis",
        description="Compare training runs: loss components, plots, table, recommendations.",
    )
    parser.add_argument("paths", nargs="+", help="run folders, sweep folders or folders above them")
    parser.add_argument("--out", default=None, help="output folder (default <first path>/analysis)")
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="auto",
        help="read metrics from csv/metrics.csv, TensorBoard event files, or auto (csv first)",
    )
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors")
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> None:
    """Run the analysis and list what was written."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s",
    )
    written = analyze(args.paths, out=args.out, source=args.source)
    for key, path in written.items():
        log.info("%-28s %s", key, path)


if __name__ == "__main__":
    main()
