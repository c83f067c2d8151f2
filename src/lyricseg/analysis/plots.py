"""Figures comparing runs: loss terms, their balance, and what they buy on validation.

Every function returns a matplotlib ``Figure`` (Agg backend, nothing shown); :func:`save`
writes it as PNG and closes it.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lyricseg.analysis.contributions import (  # noqa: E402
    BOUNDARY_NAMES,
    CONFIDENCE_NAMES,
    contribution_history,
    contributions,
    loss_terms,
    share_of,
    shares,
)
from lyricseg.analysis.runs import RunData  # noqa: E402

_NO_DATA = "no run logged the metrics this plot needs"


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG and free it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def safe_name(name: str) -> str:
    """A file name for a run label (``a/b`` -> ``a_b``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"


def _empty(ax: plt.Axes, text: str = _NO_DATA) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def loss_components_figure(run: RunData) -> Figure:
    """Weighted contribution of each loss term per epoch, train and validation side by side.

    A contribution is ``weight x term`` (see :mod:`lyricseg.analysis.contributions`); its
    magnitude is drawn on a log scale so that small penalty terms stay visible next to the
    cross-entropy. Terms that lower the loss (the entropy bonus) are marked ``(-)``. The total
    logged loss is drawn dashed.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, split in zip(axes, ("train", "val"), strict=True):
        history = contribution_history(run, split)
        drawn = False
        for name, (epochs, values) in history.items():
            points = [(e, abs(v)) for e, v in zip(epochs, values, strict=True) if v != 0]
            if not points:
                continue
            label = f"{name} (-)" if any(v < 0 for v in values) else name
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3, label=label)
            drawn = True
        epochs, totals = run.series(f"{split}/loss")
        positive = [(e, t) for e, t in zip(epochs, totals, strict=True) if t > 0]
        if positive:
            ax.plot(
                [p[0] for p in positive],
                [p[1] for p in positive],
                "k--",
                marker="x",
                ms=4,
                linewidth=1,
                label="total",
            )
            drawn = True
        if drawn:
            ax.set_yscale("log")
            ax.legend(fontsize=8)
        else:
            _empty(ax, f"no {split} loss logged")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")
        ax.set_ylabel("|weight x term| (log scale)")
        ax.set_title(split)
        ax.grid(alpha=0.3)
    terms = loss_terms(run)
    fig.suptitle(f"Loss components — run {run.name} ({terms.loss_name})")
    return fig


def component_balance_figure(runs: list[RunData]) -> Figure:
    """Share of each loss term in the training loss at the last epoch, one bar per run.

    Each bar is labelled with its shares, so terms of a fraction of a percent stay readable.
    """
    data = [(r.name, shares(contributions(r))) for r in runs]
    data = [(n, s) for n, s in data if s]
    names = sorted({c for _, s in data for c in s})
    fig, ax = plt.subplots(figsize=(10, 1.6 + 0.5 * max(len(data), 1)))
    if not data:
        _empty(ax)
    left = [0.0] * len(data)
    colors = plt.get_cmap("tab10")
    rows = list(range(len(data)))
    for index, component in enumerate(names):
        widths = [100 * s.get(component, 0.0) for _, s in data]
        ax.barh(rows, widths, left=left, label=component, color=colors(index % 10), alpha=0.8)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for row, (_, part) in zip(rows, data, strict=True):
        text = "  ".join(
            f"{k} {100 * v:.1f}%" if v >= 0.001 else f"{k} <0.1%"
            for k, v in sorted(part.items(), key=lambda kv: -kv[1])
        )
        ax.text(1, row, text, va="center", fontsize=7)
    ax.set_yticks(rows, [n for n, _ in data])
    ax.set_xlabel("share of the training loss at the last epoch (%, |weight x term|)")
    ax.set_ylabel("run")
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    if names:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="term")
    ax.set_title("Loss component balance")
    return fig


def _share_axis(ax: plt.Axes, xs: list[float]) -> None:
    """Percent axis that starts just below 0 and shows at least 0-10 %."""
    ax.set_xlim(-1.0, max([10.0, *(1.15 * x for x in xs)]))


def _annotate(ax: plt.Axes, x: float, y: float, label: str) -> None:
    ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)


def _scatter_with_without(
    ax: plt.Axes,
    present: list[tuple[str, float, float]],
    absent: list[tuple[str, float, float]],
    present_label: str,
    absent_label: str,
) -> None:
    """Scatter ``(run, x, y)`` points: filled where a loss term exists, hollow where not."""
    if present:
        ax.scatter([p[1] for p in present], [p[2] for p in present], label=present_label)
    if absent:
        ax.scatter(
            [p[1] for p in absent],
            [p[2] for p in absent],
            facecolors="none",
            edgecolors="grey",
            label=absent_label,
        )
    for name, x, y in present + absent:
        _annotate(ax, x, y, name)
    if present or absent:
        ax.legend(fontsize=8)
    else:
        _empty(ax)


def boundary_vs_f1_figure(runs: list[RunData]) -> Figure:
    """Boundary term's share of the training loss against the best validation boundary F1.

    Runs without a boundary term sit at 0 (hollow markers); runs whose boundary emphasis is
    folded into ``ce`` are left out (their share is not observable) and named in the title.
    """
    fig, ax = plt.subplots(figsize=(7, 5))
    measured, absent, folded = [], [], []
    for run in runs:
        f1 = run.best("val/boundary_f1")
        if f1 is None:
            continue
        share = share_of(run, BOUNDARY_NAMES)
        if share is not None:
            measured.append((run.name, 100 * share, f1))
        elif loss_terms(run).boundary_folded:
            folded.append(run.name)
        else:
            absent.append((run.name, 0.0, f1))
    _scatter_with_without(ax, measured, absent, "boundary term logged", "no boundary term")
    _share_axis(ax, [p[1] for p in measured + absent])
    title = "Boundary term vs boundary F1"
    if folded:
        shown = ", ".join(folded[:6]) + (" ..." if len(folded) > 6 else "")
        title += f"\n(boundary folded into ce, not shown: {shown})"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("boundary term, share of the training loss at the last epoch (%)")
    ax.set_ylabel("best validation boundary F1")
    ax.grid(alpha=0.3)
    return fig


def f1_vs_windowdiff_figure(runs: list[RunData]) -> Figure:
    """Boundary F1 against 1 − WindowDiff at each run's best epoch (up-right is better)."""
    fig, ax = plt.subplots(figsize=(7, 5))
    points = []
    for run in runs:
        epoch = run.best_epoch
        f1, wd = run.at("val/boundary_f1", epoch), run.at("val/window_diff", epoch)
        if f1 is not None and wd is not None:
            points.append((run.name, 1.0 - wd, f1))
    if points:
        ax.scatter([p[1] for p in points], [p[2] for p in points])
        for name, x, y in points:
            _annotate(ax, x, y, name)
    else:
        _empty(ax)
    ax.set_xlabel("1 − WindowDiff (validation, best epoch)")
    ax.set_ylabel("boundary F1 (validation, best epoch)")
    ax.set_title("Boundary F1 vs segmentation agreement")
    ax.grid(alpha=0.3)
    return fig


def confidence_control_figure(runs: list[RunData]) -> Figure:
    """Share of lines predicted with confidence > 0.95 against the confidence penalty's share.

    Runs without a confidence penalty sit at 0 (hollow markers).
    """
    fig, ax = plt.subplots(figsize=(7, 5))
    with_term, without = [], []
    for run in runs:
        rate = run.final("val/conf_over_95")
        if rate is None:
            continue
        share = share_of(run, CONFIDENCE_NAMES)
        if share is None:
            without.append((run.name, 0.0, rate))
        else:
            with_term.append((run.name, 100 * share, rate))
    _scatter_with_without(ax, with_term, without, "confidence penalty", "no penalty")
    ax.set_xlabel("confidence penalty, share of the training loss at the last epoch (%)")
    ax.set_ylabel("validation lines with confidence > 0.95 (last epoch)")
    ax.set_ylim(-0.02, 1.02)
    _share_axis(ax, [p[1] for p in with_term + without])
    ax.set_title("Confidence control")
    ax.grid(alpha=0.3)
    return fig
