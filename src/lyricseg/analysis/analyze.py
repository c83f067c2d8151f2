"""Everything ``python -m lyricseg.analysis`` writes, as one function: :func:`analyze`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from lyricseg.analysis import plots
from lyricseg.analysis.report import read_sweep_results, recommendations, write_comparison
from lyricseg.analysis.runs import load_runs
from lyricseg.utils import atomic_write, get_logger

log = get_logger(__name__)


def analyze(
    paths: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    source: str = "auto",
) -> dict[str, Path]:
    """Analyse every run at or below ``paths`` and write the report into ``out``.

    Args:
        paths: Run folders, sweep folders or any folder above them.
        out: Output folder; default ``<first path>/analysis``.
        source: Where metrics are read from: ``auto`` (CSV log, else TensorBoard), ``csv`` or
            ``tensorboard``.

    Returns:
        ``{artifact: path}`` for ``comparison_md``, ``comparison_csv``, ``recommendations``,
        ``component_balance``, ``boundary_vs_f1``, ``f1_vs_windowdiff``,
        ``confidence_control`` and ``loss_components/<run>``.

    Raises:
        LyricsegError: No run was found.
    """
    paths = [Path(p) for p in paths]
    runs = load_runs(paths, source=source)
    out_dir = Path(out) if out is not None else paths[0] / "analysis"
    out_dir.mkdir(parents=True, exist_ok=True)

    written: dict[str, Path] = {}
    written["comparison_md"], written["comparison_csv"] = write_comparison(runs, out_dir)
    sweep = next((r for r in (read_sweep_results(p) for p in paths) if r), None)
    written["recommendations"] = out_dir / "recommendations.md"
    with atomic_write(written["recommendations"]) as handle:
        handle.write(recommendations(runs, sweep))

    for run in runs:
        if run.has_metrics:
            key = f"loss_components/{plots.safe_name(run.name)}"
            written[key] = plots.save(plots.loss_components_figure(run), out_dir / f"{key}.png")
    figures = {
        "component_balance": plots.component_balance_figure,
        "boundary_vs_f1": plots.boundary_vs_f1_figure,
        "f1_vs_windowdiff": plots.f1_vs_windowdiff_figure,
        "confidence_control": plots.confidence_control_figure,
    }
    for name, make in figures.items():
        written[name] = plots.save(make(runs), out_dir / f"{name}.png")
    log.info("Analysed %d run(s); wrote %d files to %s", len(runs), len(written), out_dir)
    return written
