"""lyricseg benchmarks: speed and quality on the real corpus, written as Markdown and JSON.

    python -m benchmarks.run [--parts speed,quality] [--seeds 1,2,3] [--losses ...]

Speed (medians over ``--repeats``): featurizing the corpus, training ``experiment=lyrics_best``
to its best checkpoint, warm batch prediction, a cold ``predict.py`` on one song, and a
2,000-line song. Quality: val metrics of the best checkpoint of each loss family and of the
recommended recipe, mean ± std over seeds, next to the repeated-line rule. Results go to
``bench-results/bench.md`` and ``bench-results/bench.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("LYRICSEG_CORPUS_DIR", REPO.parent / "shared" / "data" / "lyrics"))
LOSSES = ["cross_entropy", "boundary_aware", "focal", "tversky", "boundary", "compound"]
QUALITY_KEYS = ["macro_f1", "boundary_f1", "boundary_f1_tol1", "window_diff", "pk", "ece"]
log = logging.getLogger("benchmarks")


def machine() -> dict[str, Any]:
    """Describe the machine the numbers come from."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def train_run(overrides: list[str], log_dir: Path) -> dict[str, Any]:
    """Run ``train.py`` in a subprocess; return its ``summary.json``."""
    run_dir = log_dir / f"run-{time.time_ns()}"
    cmd = [
        sys.executable,
        str(REPO / "train.py"),
        f"data.data_dir={CORPUS}",
        f"hydra.run.dir={run_dir}",
        f"paths.log_dir={log_dir}",
        "callbacks.progress_bar=null",
        "+trainer.enable_progress_bar=false",
        "test=false",
        *overrides,
    ]
    log.info("train %s", " ".join(overrides))
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"training failed ({' '.join(overrides)}):\n{result.stderr[-2000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["wall_s"] = wall
    summary["run_dir"] = str(run_dir)
    return summary


def _median_time(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def speed(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """The speed figures (medians over repeats)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from lyricseg.data import Song, read_jsonl
    from lyricseg.data.featurize import featurize_songs
    from lyricseg.predict import Predictor

    songs = [*read_jsonl(CORPUS / "train.jsonl"), *read_jsonl(CORPUS / "val.jsonl")]
    if (CORPUS / "test.jsonl").exists():
        songs += read_jsonl(CORPUS / "test.jsonl")
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=lyrics_best", f"data.data_dir={CORPUS}"])
    extractor = instantiate(cfg.features)
    workers = int(cfg.data.featurize_workers)
    featurize_s, featurize_all = _median_time(
        lambda: featurize_songs(songs, extractor, workers=workers), args.repeats
    )

    fits = [train_run(["experiment=lyrics_best", f"seed={s}"], log_dir) for s in args.seeds[:1]]
    to_best = [f["metrics"]["time/to_best_s"] for f in fits]
    fit = [f["metrics"]["time/fit_s"] for f in fits]
    ckpt = fits[0]["best_checkpoint"]

    predictor = Predictor.from_checkpoint(ckpt)
    val = read_jsonl(CORPUS / "val.jsonl")
    predictor.predict(val[:8])  # warm-up
    batch_s, _ = _median_time(lambda: predictor.predict(val, workers=workers), args.repeats)

    long_song = Song(id="long", lines=tuple(line for s in val for line in s.lines)[:2000])
    long_s, _ = _median_time(lambda: predictor.predict([long_song]), args.repeats)

    with tempfile.TemporaryDirectory() as tmp:
        song_txt = Path(tmp) / "song.txt"
        song_txt.write_text("\n".join(val[0].lines) + "\n")
        cmd = [
            sys.executable,
            str(REPO / "predict.py"),
            f"ckpt={ckpt}",
            f"input={song_txt}",
            f"hydra.run.dir={tmp}/run",
        ]
        cold_s, _ = _median_time(
            lambda: subprocess.run(cmd, cwd=REPO, capture_output=True, check=True), args.repeats
        )
    return {
        "featurize_songs": len(songs),
        "featurize_s": featurize_s,
        "featurize_runs_s": featurize_all,
        "featurize_workers": workers,
        "train_to_best_s": statistics.median(to_best),
        "train_fit_s": statistics.median(fit),
        "predict_songs_per_s": len(val) / batch_s,
        "predict_cold_one_song_s": cold_s,
        "predict_2000_lines_s": long_s,
        "checkpoint": ckpt,
    }


def repeated_line_rule() -> dict[str, float]:
    """Val metrics of the rule "a line whose normalized text occurs twice is chorus"."""
    from lyricseg.data import read_jsonl
    from lyricseg.features import SongText
    from lyricseg.metrics import evaluate_songs

    val = read_jsonl(CORPUS / "val.jsonl")
    preds, probs = [], []
    for song in val:
        norm = SongText.from_lines(song.lines).norm
        labels = [int(norm.count(line) > 1) for line in norm]
        preds.append(labels)
        probs.append([float(x) for x in labels])
    return evaluate_songs(preds, [list(s.labels) for s in val], probs)


def _aggregate(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(summaries)}
    for key in QUALITY_KEYS:
        values = [s["best_val"][key] for s in summaries]
        out[key] = (statistics.mean(values), statistics.pstdev(values))
    cal = [s["calibration"] for s in summaries if s.get("calibration")]
    if cal:
        after = [c["after_cross_fitted"]["ece"] for c in cal if c.get("after_cross_fitted")]
        if after:
            out["ece_calibrated"] = (statistics.mean(after), statistics.pstdev(after))
    out["to_best_s"] = statistics.median(s["metrics"]["time/to_best_s"] for s in summaries)
    return out


def quality(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """Val quality for each loss family and for the recommended recipe, over seeds."""
    rows: dict[str, Any] = {"repeated-line rule": repeated_line_rule()}
    recipes = [
        (f"loss={loss}", ["data=lyrics", f"loss={loss}", *args.extra]) for loss in args.losses
    ]
    recipes.append(("experiment=lyrics_best", ["experiment=lyrics_best"]))
    for name, overrides in recipes:
        runs = [train_run([*overrides, f"seed={s}"], log_dir) for s in args.seeds]
        rows[name] = _aggregate(runs)
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, tuple | list):
        return f"{value[0]:.3f} ± {value[1]:.3f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def to_markdown(results: dict[str, Any]) -> str:
    """Render the results as Markdown tables."""
    lines = ["# lyricseg benchmark", ""]
    if "quality" in results:
        lines += [
            f"## Quality on val (best checkpoint; mean ± std over seeds {results['seeds']})",
            "",
            "| run | " + " | ".join(QUALITY_KEYS) + " | ECE calibrated (cross-fitted) |",
            "|---" * (len(QUALITY_KEYS) + 2) + "|",
        ]
        for name, row in results["quality"].items():
            cal = _fmt(row["ece_calibrated"]) if "ece_calibrated" in row else "—"
            cells = [_fmt(row[k]) for k in QUALITY_KEYS]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {cal} |")
        lines.append("")
    if "speed" in results:
        s = results["speed"]
        lines += [
            f"## Speed (medians of {results['repeats']} repeats)",
            "",
            "| what | figure |",
            "|---|---|",
            f"| featurize {s['featurize_songs']} songs ({s['featurize_workers']} processes) "
            f"| {s['featurize_s']:.2f} s |",
            f"| `experiment=lyrics_best` to its best checkpoint | {s['train_to_best_s']:.0f} s "
            f"(whole fit with early stopping: {s['train_fit_s']:.0f} s) |",
            "| warm batch prediction, features included "
            f"| {s['predict_songs_per_s']:.0f} songs/s |",
            f"| `predict.py` on one song, cold | {s['predict_cold_one_song_s']:.2f} s |",
            f"| one 2,000-line song | {s['predict_2000_lines_s']:.2f} s |",
            "",
        ]
    m = results["machine"]
    lines += [
        "## Machine",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, GPU: {m['gpu'] or 'none'}; "
        f"Python {m['python']}, torch {m['torch']}; {m['platform']}.",
        "",
        f"Command: `{results['command']}`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write ``bench-results/``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", default="speed,quality")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extra", default="", help="extra overrides for loss runs, comma-sep")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results")
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    args.losses = [x for x in args.losses.split(",") if x]
    args.extra = [x for x in args.extra.split(",") if x]
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s")
    if not (CORPUS / "train.jsonl").exists():
        print(f"error: corpus not found at {CORPUS} (set LYRICSEG_CORPUS_DIR)", file=sys.stderr)
        return 2
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {
        "machine": machine(),
        "seeds": args.seeds,
        "repeats": args.repeats,
        "command": "python -m benchmarks.run " + " ".join(argv or sys.argv[1:]),
    }
    with tempfile.TemporaryDirectory(prefix="lyricseg-bench-") as tmp:
        if "speed" in parts:
            results["speed"] = speed(args, Path(tmp))
        if "quality" in parts:
            results["quality"] = quality(args, Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    markdown = to_markdown(results)
    (args.out / "bench.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
