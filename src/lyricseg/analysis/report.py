"""Comparison table across runs and plain-language recommendations."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from lyricseg.analysis.contributions import (
    BOUNDARY_NAMES,
    CONFIDENCE_NAMES,
    CONSISTENCY_NAMES,
    loss_terms,
    share_of,
)
from lyricseg.analysis.runs import RunData
from lyricseg.utils import atomic_write

#: Below this share of the total loss the boundary term hardly steers training.
BOUNDARY_MIN_SHARE = 0.05
#: Above this share the segment-consistency term dominates the cross-entropy.
CONSISTENCY_MAX_SHARE = 0.30
#: Above this share the confidence penalty dominates the cross-entropy.
CONFIDENCE_MAX_SHARE = 0.30
#: Share of lines predicted with confidence > 0.95 above which predictions are saturated.
OVERCONFIDENT_RATE = 0.90
#: Predicted chorus rates outside [low, high] mean the model predicts (almost) one class.
COLLAPSE_LOW, COLLAPSE_HIGH = 0.02, 0.98

#: Overrides that say where a run wrote its files, not how it trained.
_LOCATION_PREFIXES = ("paths.", "hydra.", "++paths.", "+paths.")

#: Columns of comparison.csv, in order (comparison.md shows a subset).
CSV_COLUMNS = (
    "run",
    "status",
    "overrides",
    "best_boundary_f1",
    "best_epoch",
    "window_diff",
    "macro_f1",
    "ece",
    "ece_calibrated",
    "conf_over_95",
    "pred_chorus_rate",
    "boundary_share",
    "consistency_share",
    "confidence_share",
    "epochs",
    "wall_time_s",
    "path",
)


def _location(override: str) -> bool:
    return override.startswith(_LOCATION_PREFIXES)


def common_overrides(runs: list[RunData]) -> list[str]:
    """Overrides shared by every run (empty for a single run: nothing to factor out)."""
    with_overrides = [r for r in runs if r.overrides]
    if len(with_overrides) < 2:
        return []
    counts = Counter(o for r in with_overrides for o in set(r.overrides))
    first = with_overrides[0].overrides
    return [o for o in first if counts[o] == len(with_overrides)]


def distinct_overrides(run: RunData, common: list[str]) -> list[str]:
    """The run's overrides minus the shared ones and the output locations."""
    shared = set(common)
    return [o for o in run.overrides if o not in shared and not _location(o)]


def summarize(run: RunData, common: list[str] | None = None) -> dict[str, Any]:
    """One comparison row.

    ``best_boundary_f1`` is the best epoch's value of ``val/boundary_f1``; WindowDiff, macro
    F1, ECE and the predicted chorus rate are taken at the run's best epoch by its monitor
    (the epoch its best checkpoint comes from); loss shares at the last epoch.
    """
    best_epoch = run.best_epoch
    best_f1 = run.best("val/boundary_f1")
    if best_f1 is None and run.summary:
        best_f1 = run.summary.get("metrics", {}).get("val/boundary_f1_best")

    def at_best(key: str) -> float | None:
        value = run.at(key, best_epoch)
        return value if value is not None else run.final(key)

    after = (run.calibration or {}).get("after", {})
    return {
        "run": run.name,
        "status": "ok" if run.has_metrics else "no metrics (failed or still running?)",
        "overrides": distinct_overrides(run, common or []),
        "best_boundary_f1": best_f1,
        "best_epoch": best_epoch,
        "window_diff": at_best("val/window_diff"),
        "macro_f1": at_best("val/macro_f1"),
        "ece": at_best("val/ece"),
        "ece_calibrated": after.get("ece"),
        "conf_over_95": at_best("val/conf_over_95"),
        "pred_chorus_rate": at_best("val/pred_chorus_rate"),
        "boundary_share": share_of(run, BOUNDARY_NAMES),
        "consistency_share": share_of(run, CONSISTENCY_NAMES),
        "confidence_share": share_of(run, CONFIDENCE_NAMES),
        "epochs": run.n_epochs,
        "wall_time_s": run.wall_time_s,
        "path": str(run.path.resolve()),
    }


def comparison_rows(runs: list[RunData]) -> list[dict[str, Any]]:
    """Rows for every run, best boundary F1 first (runs without metrics last)."""
    common = common_overrides(runs)
    rows = [summarize(r, common) for r in runs]

    def rank(row: dict[str, Any]) -> float:
        return -row["best_boundary_f1"] if row["best_boundary_f1"] is not None else 1.0

    return sorted(rows, key=rank)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _short(override: str) -> str:
    """``optimizer.lr=0.0088646532`` -> ``optimizer.lr=0.008865`` (for tables only)."""
    key, sep, value = override.partition("=")
    if not sep or "." not in value:
        return override
    try:
        number = float(value)
    except ValueError:
        return override
    return f"{key}={number:.4g}"


def comparison_markdown(runs: list[RunData], rows: list[dict[str, Any]] | None = None) -> str:
    """The comparison table as Markdown, with the overrides shared by all runs above it."""
    rows = rows if rows is not None else comparison_rows(runs)
    common = [o for o in common_overrides(runs) if not _location(o)]
    lines = ["# Run comparison", ""]
    lines.append(f"{len(rows)} run(s); sorted by best validation boundary F1.")
    if common:
        lines.append("Overrides shared by all runs: " + " ".join(f"`{o}`" for o in common))
    lines += [
        "WindowDiff, macro F1 and ECE are at each run's best epoch (by its monitor); "
        "wall time is featurization + fit.",
        "",
        "| run | overrides | best boundary F1 | WindowDiff | macro F1 | ECE | epochs | wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        overrides = " ".join(f"`{_md_cell(_short(o))}`" for o in row["overrides"]) or "(defaults)"
        if row["status"] != "ok":
            overrides += f" — {row['status']}"
        lines.append(
            f"| {_md_cell(row['run'])} | {overrides} | {_fmt(row['best_boundary_f1'])} | "
            f"{_fmt(row['window_diff'])} | {_fmt(row['macro_f1'])} | {_fmt(row['ece'])} | "
            f"{_fmt(row['epochs'])} | {_fmt_time(row['wall_time_s'])} |"
        )
    return "\n".join(lines) + "\n"


def write_comparison(runs: list[RunData], out: Path) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.csv`` into ``out``."""
    rows = comparison_rows(runs)
    md_path, csv_path = out / "comparison.md", out / "comparison.csv"
    with atomic_write(md_path) as handle:
        handle.write(comparison_markdown(runs, rows))
    with atomic_write(csv_path) as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            flat = dict(row)
            flat["overrides"] = " ".join(row["overrides"])
            writer.writerow({k: "" if flat[k] is None else flat[k] for k in CSV_COLUMNS})
    return md_path, csv_path


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def run_advice(run: RunData) -> list[str]:
    """Plain-language findings for one run (empty when nothing stands out)."""
    if not run.has_metrics:
        return [f"Run `{run.name}` logged no metrics: it failed or is still running ({run.path})."]
    notes = []
    boundary = share_of(run, BOUNDARY_NAMES)
    if boundary is not None and boundary < BOUNDARY_MIN_SHARE:
        if run.select("loss.components") is not None:
            knob = "the weight of its boundary component (`loss.components.<name>.weight`)"
        else:
            current = run.select("loss.boundary_weight")
            knob = f"`loss.boundary_weight` (now {current})"
        notes.append(
            f"Run `{run.name}`: the boundary term is only {_pct(boundary)} of the training loss "
            f"(under {_pct(BOUNDARY_MIN_SHARE)}), so borders barely steer training: raise {knob}."
        )
    consistency = share_of(run, CONSISTENCY_NAMES)
    if consistency is not None and consistency > CONSISTENCY_MAX_SHARE:
        current = run.select("loss.segment_consistency_lambda")
        notes.append(
            f"Run `{run.name}`: segment consistency is {_pct(consistency)} of the training loss "
            f"(over {_pct(CONSISTENCY_MAX_SHARE)}): lower `loss.segment_consistency_lambda` "
            f"(now {current}) so the per-line cross-entropy leads."
        )
    confidence = share_of(run, CONFIDENCE_NAMES)
    if confidence is not None and confidence > CONFIDENCE_MAX_SHARE:
        notes.append(
            f"Run `{run.name}`: the confidence penalty is {_pct(confidence)} of the training loss: "
            f"lower `loss.conf_penalty_lambda` (now {run.select('loss.conf_penalty_lambda')}) or "
            "raise `loss.conf_threshold`."
        )
    rate = run.final("val/pred_chorus_rate")
    if rate is not None and rate < COLLAPSE_LOW:
        notes.append(
            f"Run `{run.name}`: collapse warning — it predicts chorus for {_pct(rate)} of the "
            "validation lines (all-verse). Try class weights (`loss.class_weights=[1.0,2.5]`, "
            "experiment=imbalanced), `data.weighted_sampling=true` or `loss.entropy_lambda=0.02`."
        )
    elif rate is not None and rate > COLLAPSE_HIGH:
        notes.append(
            f"Run `{run.name}`: collapse warning — it predicts chorus for {_pct(rate)} of the "
            "validation lines (all-chorus). Lower the chorus class weight or the learning rate."
        )
    saturated = run.final("val/conf_over_95")
    if saturated is not None and saturated > OVERCONFIDENT_RATE:
        notes.append(
            f"Run `{run.name}`: {_pct(saturated)} of validation lines are predicted with "
            "confidence > 0.95 — over-confident. Raise `loss.label_smoothing` or "
            "`loss.conf_penalty_lambda`, or use `loss=calibration_focus`; keep a calibrator."
        )
    return notes


def still_improving(run: RunData) -> bool:
    """Whether the run's best epoch is its last one (training stopped too early)."""
    best, last = run.best_epoch, run.last_epoch
    return best is not None and last is not None and 0 < last == best


def _folded(runs: list[RunData]) -> list[str]:
    return [r.name for r in runs if r.has_metrics and loss_terms(r).boundary_folded]


def recommendations(runs: list[RunData], sweep_results: dict[str, Any] | None = None) -> str:
    """``recommendations.md``: the best run, per-run findings and general notes."""
    rows = comparison_rows(runs)
    lines = ["# Recommendations", ""]
    ranked = [r for r in rows if r["best_boundary_f1"] is not None]
    if ranked:
        best = ranked[0]
        overrides = " ".join(f"`{_short(o)}`" for o in best["overrides"]) or "the defaults"
        lines.append(
            f"**Best run: `{best['run']}`** — validation boundary F1 "
            f"{_fmt(best['best_boundary_f1'])}, WindowDiff {_fmt(best['window_diff'])}, "
            f"macro F1 {_fmt(best['macro_f1'])}, with {overrides}."
        )
        if len(ranked) > 1:
            worst = ranked[-1]
            lines.append(
                f"Boundary F1 ranges from {_fmt(worst['best_boundary_f1'])} (`{worst['run']}`) to "
                f"{_fmt(best['best_boundary_f1'])} across {len(ranked)} runs."
            )
        lines.append("")
    if sweep_results and sweep_results.get("best_params"):
        params = " ".join(f"`{k}={v}`" for k, v in sweep_results["best_params"].items())
        lines += [
            f"The Optuna study's best trial (value {_fmt(sweep_results.get('best_value'))}) "
            f"used: {params}.",
            "",
        ]
    findings = [note for run in runs for note in run_advice(run)]
    improving = [r.name for r in runs if still_improving(r)]
    if improving:
        findings.append(
            ("Runs " if len(improving) > 1 else "Run ")
            + ", ".join(f"`{n}`" for n in improving)
            + " reached their best epoch at the last one, so they were still improving: raise "
            "`trainer.max_epochs` (or early-stopping patience) before comparing them further."
        )
    lines.append("## Findings")
    lines.append("")
    if findings:
        lines += [f"- {note}" for note in findings]
    else:
        lines.append("- Nothing out of bounds: no collapse, saturation or unbalanced loss terms.")
    folded = _folded(runs)
    notes = []
    if folded:
        notes.append(
            "In " + ", ".join(f"`{n}`" for n in folded) + " the boundary emphasis is folded into "
            "`ce` (`loss.use_boundary_as_primary=true`), so its share of the loss cannot be "
            "measured; run with `loss.use_boundary_as_primary=false` to log it as "
            "`train/loss/boundary`."
        )
    without = [
        r.name
        for r in runs
        if r.has_metrics and share_of(r, BOUNDARY_NAMES) is None and r.name not in folded
    ]
    if without:
        notes.append("Runs without a boundary term: " + ", ".join(f"`{n}`" for n in without) + ".")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def read_sweep_results(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``optimization_results.yaml`` of an Optuna sweep folder, if there is one."""
    path = Path(root) / "optimization_results.yaml"
    if not path.is_file():
        return None
    # the sweeper writes literal values; a file's interpolations are left as text, never run
    loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    return loaded if isinstance(loaded, dict) else None
