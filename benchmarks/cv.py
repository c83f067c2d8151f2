"""Cross-validated quality of the headline recipes: one Hydra multirun of the folds per recipe.

The main corpus's songs (train + val) are dealt into ``k`` folds by song, near-duplicate
groups kept whole (:func:`benchmarks.folds.assign_folds`). For each fold, the other folds'
songs are split into an inner train and val (:func:`~benchmarks.folds.inner_split`) and
written as ``<work>/fold-<k>/data``. Each trained recipe then runs ``python train.py -m``
once, sweeping the fold index (``+cv.fold=0,...,k-1`` with
``data.data_dir=<work>/fold-${cv.fold}/data``, and ``seed=a,b,c`` for an ensemble) on a Hydra
launcher: ``hydra/launcher=parallel`` (joblib processes on this machine, ``--jobs`` at a
time) by default, or ``slurm`` (submitit, one cluster job per fold, see
``conf/hydra/launcher/slurm.yaml``). A fold's job trains on its inner train, and the inner val
fits the calibrator (and picks the epoch or stops training, for a recipe that does).
Afterwards ``python predict.py`` tags each held-out fold with that fold's
``checkpoints/best.ckpt``, on this machine. The held-out songs are never seen by training,
epoch selection or calibration. Extra corpora (``data.extra_dirs``) join every fold's
training part and are never scored here.

Out-of-fold predictions are pooled over all songs and scored once with
:func:`lyricseg.metrics.evaluate_songs`; each fold is also scored alone, for mean ± std over
folds.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.folds import assign_folds, inner_split, near_duplicate_groups
from lyricseg.data import Song, read_jsonl, write_jsonl
from lyricseg.data.audit import near_duplicate_pairs
from lyricseg.data.stanzas import META_FILE
from lyricseg.utils.errors import LyricsegError

REPO = Path(__file__).resolve().parents[1]
#: Metrics summarized over folds (all :func:`evaluate_songs` keys are kept in the JSON).
FOLD_KEYS = ("macro_f1", "boundary_f1", "boundary_f1_tol1", "window_diff", "pk", "ece")
#: The launcher setting that ``--jobs`` sets, per launcher (conf/hydra/launcher/*.yaml).
LAUNCHER_JOBS = {"parallel": "n_jobs", "slurm": "array_parallelism"}
log = logging.getLogger("benchmarks.cv")


def repeated_lines(lines: Sequence[str]) -> list[bool]:
    """Whether each line's normalized text occurs more than once in the song."""
    from lyricseg.features import SongText

    norm = SongText.from_lines(list(lines)).norm
    counts = Counter(norm)
    return [counts[line] > 1 for line in norm]


def repeated_line_rule(songs: Sequence[Song]) -> list[dict[str, Any]]:
    """Tag a line chorus when its normalized text occurs more than once in the song."""
    records = []
    for song in songs:
        labels = [int(x) for x in repeated_lines(song.lines)]
        records.append({"id": song.id, "labels": labels, "probs": [float(x) for x in labels]})
    return records


@dataclass(frozen=True)
class Recipe:
    """A way of tagging songs that the bench scores.

    Attributes:
        label: How tables name it.
        overrides: ``train.py`` overrides of a trained recipe.
        rule: For an untrained recipe, a function from songs to prediction records.
        seeds: For an ensemble, the training seeds of its members (one model each, then
            ``predict.py ckpt=[...]``); empty for one model trained with ``--train-seed``.
    """

    label: str
    overrides: tuple[str, ...] = ()
    rule: Callable[[Sequence[Song]], list[dict[str, Any]]] | None = None
    seeds: tuple[int, ...] = ()

    @property
    def probabilistic(self) -> bool:
        """Whether its probabilities mean anything (a rule's are its 0/1 labels)."""
        return self.rule is None


RECIPES: dict[str, Recipe] = {
    "lyrics_best": Recipe(
        label="`experiment=lyrics_best` (recommended)", overrides=("experiment=lyrics_best",)
    ),
    "default": Recipe(
        label="defaults, `data=lyrics` (bilstm, cross-entropy, argmax)", overrides=("data=lyrics",)
    ),
    "lyrics_best_x3": Recipe(
        label="`experiment=lyrics_best`, ensemble of seeds 1, 2, 3 (`ckpt=[a,b,c]`)",
        overrides=("experiment=lyrics_best",),
        seeds=(1, 2, 3),
    ),
    "repeated_line": Recipe(
        label='rule: "a line whose text occurs twice is chorus" (no training)',
        rule=repeated_line_rule,
    ),
}


@dataclass
class CVSettings:
    """What the cross-validation runs.

    Attributes:
        folds: Number of folds ``k``.
        seed: Seed of the fold assignment and inner splits.
        train_seed: ``seed=`` of every training run.
        val_fraction: Share of a fold's training songs held out as its inner val.
        threshold: Near-duplicate share that keeps songs together.
        extra_dirs: Extra corpora added to every fold's training part.
        overrides: Further ``train.py`` overrides for every trained recipe.
        jobs: Folds trained at the same time (the launcher's ``n_jobs`` or
            ``array_parallelism``, see :data:`LAUNCHER_JOBS`).
        threads: ``OMP_NUM_THREADS`` of every train and predict process; None leaves it
            unset with one job, and gives each of several jobs its share of the cores.
        launcher: The Hydra launcher of the folds' multirun (``conf/hydra/launcher``):
            ``parallel`` (joblib processes on this machine) or ``slurm`` (submitit).
    """

    folds: int = 5
    seed: int = 0
    train_seed: int = 1
    val_fraction: float = 0.15
    threshold: float = 0.5
    extra_dirs: list[Path] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    jobs: int = 1
    threads: int | None = None
    launcher: str = "parallel"


def thread_env(threads: int | None, jobs: int = 1) -> dict[str, str] | None:
    """Environment of child processes: ``threads`` intra-op threads, or a share of the cores.

    Returns:
        None (inherit this environment) when ``threads`` is None and ``jobs`` is 1.
    """
    if threads is None and jobs <= 1:
        return None
    n = threads if threads is not None else max(1, (os.cpu_count() or 1) // jobs)
    return {**os.environ, "OMP_NUM_THREADS": str(n)}


def member_name(recipe: str, seed: int) -> str:
    """The result name of one member of an ensemble recipe, scored alone."""
    return f"{recipe}@seed{seed}"


def read_corpus(corpus: Path) -> list[Song]:
    """The main corpus's labelled songs: ``train.jsonl`` then ``val.jsonl``."""
    return [*read_jsonl(corpus / "train.jsonl"), *read_jsonl(corpus / "val.jsonl")]


def quiet_training(work: Path) -> list[str]:
    """Overrides of every bench training: logs and feature cache under ``work``, no test
    split, no progress bar."""
    return [
        f"paths.log_dir={work / 'logs'}",
        f"paths.cache_dir={work / 'cache'}",
        "test=false",
        "callbacks.progress_bar=null",
        "+trainer.enable_progress_bar=false",
    ]


def run_timed(cmd: Sequence[str], env: dict[str, str] | None, failure: str) -> float:
    """Run ``cmd`` in the repository; return its wall time in seconds.

    Raises:
        RuntimeError: When it fails: ``failure``, its exit status and the end of its output.
    """
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(
            f"{failure} (exit {done.returncode})\n{(done.stdout + done.stderr)[-3000:]}"
        )
    return time.perf_counter() - start


def train_process(
    overrides: Sequence[str], run_dir: Path, work: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``python train.py`` in its own process; return its ``summary.json`` and wall time.

    Raises:
        RuntimeError: When training fails (with the end of its output).
    """
    cmd = [
        sys.executable,
        str(REPO / "train.py"),
        *overrides,
        f"hydra.run.dir={run_dir}",
        *quiet_training(work),
    ]
    wall = run_timed(cmd, env, f"training failed: {' '.join(overrides)}")
    summary = json.loads((run_dir / "summary.json").read_text())
    if not summary.get("best_checkpoint"):
        raise RuntimeError(f"training wrote no best checkpoint: {' '.join(overrides)}")
    return {**summary, "wall_s": wall}


def predict_process(
    ckpt: str | Path | Sequence[str | Path],
    songs_file: Path,
    output: Path,
    env: dict[str, str] | None = None,
) -> float:
    """Run ``python predict.py`` on a JSONL file; return its wall time in seconds.

    Several checkpoints are predicted as one ensemble (``ckpt=[a,b,...]``).

    Raises:
        RuntimeError: When prediction fails (with the end of its output).
    """
    cmd = [
        sys.executable,
        str(REPO / "predict.py"),
        f"ckpt={ckpt}" if isinstance(ckpt, str | Path) else f"ckpt=[{','.join(map(str, ckpt))}]",
        f"input={songs_file}",
        f"output={output}",
        f"hydra.run.dir={output.parent / 'predict-run'}",
    ]
    return run_timed(cmd, env, f"predict.py failed on {songs_file}")


def _read_records(path: Path, songs: Sequence[Song]) -> list[dict[str, Any]]:
    """Prediction records of ``songs``, checked to be those songs in that order."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    ids = [r["id"] for r in records]
    if ids != [s.id for s in songs] or any(
        len(r["labels"]) != len(s) or len(r["probs"]) != len(s)
        for r, s in zip(records, songs, strict=True)
    ):
        raise RuntimeError(f"{path}: the predictions do not match the held-out songs")
    return records


def _score(songs: Sequence[Song], records: Sequence[dict[str, Any]]) -> dict[str, float]:
    from lyricseg.metrics import evaluate_songs

    return evaluate_songs(
        [r["labels"] for r in records],
        [list(s.labels) for s in songs],
        [r["probs"] for r in records],
    )


def mean_std(rows: Sequence[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sample standard deviation (0 for one row) of :data:`FOLD_KEYS` over rows."""
    mean = {k: statistics.mean(r[k] for r in rows) for k in FOLD_KEYS}
    std = {k: statistics.stdev(r[k] for r in rows) if len(rows) > 1 else 0.0 for k in FOLD_KEYS}
    return mean, std


def extra_dirs_override(dirs: Sequence[Path]) -> str:
    """The ``train.py`` override that adds extra corpora (quoted: paths may hold spaces)."""
    quoted = (str(d).replace("'", "\\'") for d in dirs)
    return "data.extra_dirs=[" + ",".join(f"'{d}'" for d in quoted) + "]"


def clean_extra_dirs(
    extra_dirs: Sequence[Path], songs: Sequence[Song], work: Path, threshold: float
) -> tuple[list[Path], dict[str, int]]:
    """Extra corpora without the songs that are near-duplicates of a main-corpus song.

    A folder with no such song is used as it is; otherwise a copy without them is written
    under ``work`` (so no held-out song has a near-copy in any fold's training part).

    Returns:
        ``(folders to train with, {folder: songs left out})``.

    Raises:
        LyricsegError: For a folder without ``train.jsonl`` (and bad records, from the reader).
    """
    dirs, dropped = [], {}
    for extra in extra_dirs:
        if not (extra / "train.jsonl").is_file():
            raise LyricsegError(f"extra corpus {extra} has no train.jsonl")
        splits = {
            name: read_jsonl(extra / f"{name}.jsonl", require_labels=False)  # e.g. stanzas
            for name in ("train", "val")
            if (extra / f"{name}.jsonl").is_file()
        }
        flat = [s for split in splits.values() for s in split]
        pairs = near_duplicate_pairs([*songs, *flat], threshold)
        leaked = {j - len(songs) for i, j, _ in pairs if i < len(songs) <= j}
        dropped[str(extra)] = len(leaked)
        if not leaked:
            dirs.append(extra)
            continue
        copy = work / "extra" / str(len(dirs)) / extra.name  # the name prefixes its val metrics
        n = 0
        for name, split in splits.items():
            kept = [s for k, s in enumerate(split, start=n) if k not in leaked]
            n += len(split)
            write_jsonl(copy / f"{name}.jsonl", kept)
        if (extra / META_FILE).is_file():  # the artists split (data.hold_out_artists) goes along
            shutil.copyfile(extra / META_FILE, copy / META_FILE)
        log.warning(
            "%s: %d songs are near-duplicates of main-corpus songs; left out", extra, len(leaked)
        )
        dirs.append(copy)
    return dirs, dropped


def fold_overrides(
    settings: CVSettings, data_root: Path, seeds: Sequence[int], members: bool = False
) -> list[str]:
    """The Hydra multirun overrides that train every fold (and seed) as one job each.

    ``+cv.fold`` is the swept fold index: each job reads ``<data_root>/fold-<k>/data`` and
    writes to ``<sweep dir>/fold-<k>`` (``/seed-<s>`` for an ensemble's ``members``). The
    fold index lives in the bench's command only; the training config knows nothing of folds.
    """
    quoted = str(data_root).replace("'", "\\'")
    subdir = "fold-${cv.fold}" + ("/seed-${seed}" if members else "")
    jobs = LAUNCHER_JOBS.get(settings.launcher)
    return [
        f"hydra/launcher={settings.launcher}",
        *([f"hydra.launcher.{jobs}={settings.jobs}"] if jobs else []),
        "+cv.fold=" + ",".join(str(f) for f in range(settings.folds)),
        f"data.data_dir='{quoted}/fold-${{cv.fold}}/data'",
        "seed=" + ",".join(str(s) for s in seeds),
        f"hydra.sweep.subdir={subdir}",
    ]


def train_folds(
    overrides: Sequence[str],
    sweep_dir: Path,
    work: Path,
    env: dict[str, str] | None = None,
) -> float:
    """Run ``python train.py -m`` (one multirun over the folds); return its wall time.

    Args:
        overrides: The recipe's overrides and :func:`fold_overrides`.
        sweep_dir: The multirun's folder (``hydra.sweep.dir``).
        work: Scratch folder: logs and the feature cache of every job.
        env: Environment of the multirun process (its launcher's workers inherit it).

    Raises:
        RuntimeError: When a job fails (the launcher finishes the others first).
    """
    cmd = [
        sys.executable,
        str(REPO / "train.py"),
        "-m",
        *overrides,
        f"hydra.sweep.dir={sweep_dir}",
        *quiet_training(work),
    ]
    return run_timed(cmd, env, f"cross-validation multirun failed: {' '.join(overrides)}")


def read_summary(run_dir: Path) -> dict[str, Any]:
    """A multirun job's ``summary.json``, with ``wall_s``: from the job's start to its summary.

    A job of a multirun shares its worker process with other jobs, so its time starts when
    Hydra writes the job's ``.hydra/config.yaml`` (interpreter start-up and imports are not in
    it) and ends when training writes ``summary.json`` (calibration and export included).

    Raises:
        RuntimeError: When the job wrote no summary or no best checkpoint.
    """
    path = run_dir / "summary.json"
    if not path.is_file():
        raise RuntimeError(f"{run_dir}: the training job wrote no summary.json")
    summary = json.loads(path.read_text())
    if not summary.get("best_checkpoint"):
        raise RuntimeError(f"{run_dir}: training wrote no best checkpoint")
    started = (run_dir / ".hydra" / "config.yaml").stat().st_mtime
    return {**summary, "wall_s": path.stat().st_mtime - started}


def write_fold_data(
    songs: Sequence[Song], folds: Sequence[int], settings: CVSettings, work: Path
) -> list[dict[str, Any]]:
    """Write each fold's inner train/val (``fold-<k>/data``) and held-out songs.

    Returns:
        Per fold: ``held`` (indices of its held-out songs), ``heldout_file`` and ``size``.
    """
    out = []
    for fold in range(settings.folds):
        held = [i for i, f in enumerate(folds) if f == fold]
        outer = [i for i, f in enumerate(folds) if f != fold]
        train_idx, val_idx = inner_split(
            outer, songs, settings.val_fraction, settings.seed + fold, settings.threshold
        )
        fold_dir = work / f"fold-{fold}"
        write_jsonl(fold_dir / "data" / "train.jsonl", [songs[i] for i in train_idx])
        write_jsonl(fold_dir / "data" / "val.jsonl", [songs[i] for i in val_idx])
        write_jsonl(fold_dir / "heldout.jsonl", [songs[i] for i in held])
        size = {"train": len(train_idx), "val": len(val_idx), "heldout": len(held)}
        out.append({"held": held, "heldout_file": fold_dir / "heldout.jsonl", "size": size})
    return out


def run_cv(
    songs: Sequence[Song],
    recipes: Sequence[str],
    settings: CVSettings,
    work: Path,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Cross-validate ``recipes`` on ``songs`` (see the module docstring).

    Args:
        songs: The labelled songs.
        recipes: Names from :data:`RECIPES`.
        settings: Folds, seeds, extra corpora, overrides and launcher.
        work: Scratch folder for fold data, runs and the feature cache.
        keep: Where to write each recipe's out-of-fold predictions
            (``<recipe>.oof.jsonl``), or None.

    Returns:
        ``protocol`` (what was run) and, per recipe, ``label``, ``probabilistic``,
        ``pooled`` (out-of-fold metrics over all songs), ``fold_mean``/``fold_std``
        (over folds), ``folds`` (per-fold metrics and timings) and, for a trained recipe,
        ``train_wall_s`` (its whole multirun).
    """
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        raise LyricsegError(f"unknown recipes {unknown}; known: {sorted(RECIPES)}")
    songs = list(songs)
    folds = assign_folds(songs, settings.folds, settings.seed, settings.threshold)
    groups = near_duplicate_groups(songs, settings.threshold)
    extra_dirs, extra_dropped = clean_extra_dirs(
        settings.extra_dirs, songs, work, settings.threshold
    )
    extra = [extra_dirs_override(extra_dirs)] if extra_dirs else []
    fold_data = write_fold_data(songs, folds, settings, work)
    env = thread_env(settings.threads, settings.jobs)

    # name -> per-fold entries and {song index: out-of-fold record}; each ensemble's
    # members come before it
    per_fold: dict[str, list[dict[str, Any]]] = {}
    oof_by_song: dict[str, dict[int, dict[str, Any]]] = {}
    multirun_wall: dict[str, float] = {}

    def add(name: str, fold: int, records: list[dict[str, Any]], **timing: Any) -> None:
        data = fold_data[fold]
        held_songs = [songs[i] for i in data["held"]]
        metrics = _score(held_songs, records)
        per_fold.setdefault(name, []).append(
            {"fold": fold, **data["size"], "metrics": metrics, **timing}
        )
        for i, r in zip(data["held"], records, strict=True):
            oof_by_song.setdefault(name, {})[i] = {
                "id": r["id"],
                "fold": fold,
                "gold": list(songs[i].labels),
                "labels": r["labels"],
                "probs": r["probs"],
            }

    def predict(ckpt: str | list[str], fold: int, output: Path) -> tuple[list, float]:
        data = fold_data[fold]
        wall = predict_process(ckpt, data["heldout_file"], output, env)
        return _read_records(output, [songs[i] for i in data["held"]]), wall

    for name in recipes:
        recipe = RECIPES[name]
        if recipe.rule is not None:
            for fold, data in enumerate(fold_data):
                add(name, fold, recipe.rule([songs[i] for i in data["held"]]))
            continue
        seeds = recipe.seeds or (settings.train_seed,)
        sweep_dir = work / name
        log.info("%s: %d folds x %d seed(s), one multirun", name, settings.folds, len(seeds))
        overrides = [
            *recipe.overrides,
            *fold_overrides(settings, work, seeds, members=bool(recipe.seeds)),
            *extra,
            *settings.overrides,
        ]
        multirun_wall[name] = train_folds(overrides, sweep_dir, work, env)
        for fold in range(settings.folds):
            fold_dir = sweep_dir / f"fold-{fold}"
            run_dirs = [fold_dir / f"seed-{s}" for s in seeds] if recipe.seeds else [fold_dir]
            summaries = [read_summary(d) for d in run_dirs]
            ckpts = [s["best_checkpoint"] for s in summaries]
            if recipe.seeds:  # each member alone too, scored as its own row
                for seed, run_dir, ckpt in zip(seeds, run_dirs, ckpts, strict=True):
                    alone, _ = predict(ckpt, fold, run_dir / "heldout.predictions.jsonl")
                    add(member_name(name, seed), fold, alone)
            output = fold_dir / "heldout.predictions.jsonl"
            records, predict_s = predict(ckpts[0] if len(ckpts) == 1 else ckpts, fold, output)
            summary = summaries[0]
            add(
                name,
                fold,
                records,
                train_wall_s=sum(s["wall_s"] for s in summaries),
                to_best_s=summary["metrics"].get("time/to_best_s"),
                fit_s=summary["metrics"].get("time/fit_s"),
                epochs=summary["epochs"],
                inner_val=summary.get("best_val"),
                # each extra corpus's own val set, as last logged (``val_<name>/...``)
                extra_val={k: v for k, v in summary["metrics"].items() if k.startswith("val_")},
                predict_wall_s=predict_s,
                checkpoint=ckpts[0],  # a scratch path, for later parts of the same run
            )

    results: dict[str, Any] = {
        "protocol": {
            "songs": len(songs),
            "folds": settings.folds,
            "fold_sizes": [data["size"] for data in fold_data],
            "seed": settings.seed,
            "train_seed": settings.train_seed,
            "val_fraction": settings.val_fraction,
            "near_duplicate_threshold": settings.threshold,
            "songs_with_near_duplicates": sum(len(g) for g in groups if len(g) > 1),
            "extra_dirs": [str(d) for d in settings.extra_dirs],
            "extra_left_out": extra_dropped,
            "overrides": settings.overrides,
            "jobs": settings.jobs,
            "threads": settings.threads,
            "launcher": settings.launcher,
        },
        "recipes": {},
    }
    for name in per_fold:
        base, _, seed = name.partition("@seed")  # see member_name
        recipe = RECIPES[base]
        records = [oof_by_song[name][i] for i in range(len(songs))]
        mean, std = mean_std([f["metrics"] for f in per_fold[name]])
        results["recipes"][name] = {
            "label": recipe.label + (f" — member seed {seed} alone" if seed else ""),
            "overrides": list(recipe.overrides),
            "probabilistic": recipe.probabilistic,
            "pooled": _score(songs, records),
            "fold_mean": mean,
            "fold_std": std,
            "folds": per_fold[name],
        }
        if name in multirun_wall:
            results["recipes"][name]["train_wall_s"] = multirun_wall[name]
        if keep is not None:
            from lyricseg.utils.io import atomic_write

            with atomic_write(keep / f"{name}.oof.jsonl") as handle:
                for record in records:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return results
