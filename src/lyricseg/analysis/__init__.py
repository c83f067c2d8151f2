"""Compare training runs: loss-component reports, plots, a table and recommendations.

``python -m lyricseg.analysis RUN_OR_SWEEP_DIR [...] [--out DIR]`` runs :func:`analyze`.
"""

from lyricseg.analysis.analyze import analyze
from lyricseg.analysis.contributions import contributions, loss_terms, share_of, shares
from lyricseg.analysis.report import comparison_markdown, comparison_rows, recommendations
from lyricseg.analysis.runs import RunData, find_runs, load_run, load_runs

__all__ = [
    "RunData",
    "analyze",
    "comparison_markdown",
    "comparison_rows",
    "contributions",
    "find_runs",
    "load_run",
    "load_runs",
    "loss_terms",
    "recommendations",
    "share_of",
    "shares",
]
