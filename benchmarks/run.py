"""lyricseg benchmarks: cross-validated quality and whole-process speed, written as JSON.

    python -m benchmarks.run [--parts cv,speed,long,load] [--folds 5] [--recipes ...]
                             [--extra DIR ...] [--jobs N] [--launcher parallel|slurm] [--quick]
                             [--model-seeds 0,1,2]
    python -m benchmarks.run --render [--out DIR]        # re-render <out>/bench.json only
    python -m benchmarks.run --merge OTHER.json --into cv|ablation|PART [--ablation NAME]

This is the bench's one command; the other ``benchmarks`` modules are its library.

Parts (each one replaces its own entry in ``bench-results/bench.json``, with the command,
date, machine and git revision it ran with; a part that fails or is missing is recorded
with its error and the others still run):

- ``cv``: k-fold cross-validation of the headline recipes over the main corpus's train + val
  songs (:mod:`benchmarks.cv`): each recipe's folds train as one ``train.py`` multirun on
  ``--launcher`` (``parallel``: joblib, ``--jobs`` folds at a time on this machine; ``slurm``:
  submitit, one cluster job per fold, settings by ``--override hydra.launcher.KEY=VALUE``),
  then ``predict.py`` tags each held-out fold here; out-of-fold metrics pooled over all songs,
  and mean ± std over folds.
- ``speed``: whole-process timings, start-up included: training (each fold's run when ``cv``
  ran too), ``python predict.py`` on the corpus and on one song; medians of ``--repeats``.
- ``long``: one very long song (``benchmarks.long_songs.run_long_songs``).
- ``load``: the HTTP service under load (``benchmarks.load.run_load``).
- ``losses`` (not in the default set): each loss family with the default model, on the
  corpus's own train/val split, mean ± std over ``--seeds``: a single split, scored on val.
- ``features``: featurization cost of each ``--feature-sets`` config (the optional semantic
  view included), per song and per line, model loading apart.
- ``stanzas``: stanza borders (:mod:`benchmarks.stanzas`) of the held-out artists of the
  stanza corpus (``--stanzas``), tagged by ``--ckpt`` or the shipped model, in process.
- ``errors``: error types of verse/chorus predictions (:mod:`benchmarks.errors`): of the
  out-of-fold predictions in ``--errors-from`` or this bench's ``<out>/cv`` (the cv part
  keeps them there), else of ``--ckpt`` or the shipped model on ``--errors-songs``.
- ``seeds``: the spread that the training seed alone gives: one ``lyrics_best`` model per
  ``--model-seeds`` (the models of the parts outside the folds), each scored on the
  ``--sections-val`` songs and the stanza corpus's held-out artists; per seed, mean ± std
  and max - min.
- ``first_run``: ``make train`` as a newcomer runs it: ``python train.py`` in a fresh folder
  (corpus generated, features computed), the user's thread settings (no
  ``OMP_NUM_THREADS``), whole process; medians of ``--repeats``, on a quiet machine and
  beside ``--busy`` busy-loop processes this part starts itself, with the load average of
  each run.
- ``gpu`` (not in the default set): ``lyrics_best``'s training time per epoch on the CPU and,
  where CUDA is present, on the GPU in 32-bit and bf16-mixed precision.

Then :mod:`benchmarks.render` renders the JSON into ``<out>/bench.md``, ``docs/results.md`` and
the README's generated block (not for ``--quick`` runs or with ``--no-publish``).
``--quick`` is a smoke run (2 folds, 2 epochs, 100 songs, one repeat), written to
``bench-results/quick/`` by default.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import cv
from benchmarks.cv import REPO, CVSettings
from lyricseg.data import read_jsonl, write_jsonl
from lyricseg.utils.errors import LyricsegError

CORPUS = Path(os.environ.get("LYRICSEG_CORPUS_DIR", REPO.parent / "shared" / "data" / "lyrics"))
STANZAS = REPO.parent / "shared" / "data" / "stanzas"
#: Held-out stanza-corpus songs scored by ``--quick``.
QUICK_STANZA_SONGS = 50
PARTS = (
    "cv",
    "sections",
    "speed",
    "long",
    "load",
    "losses",
    "gpu",
    "features",
    "stanzas",
    "errors",
    "first_run",
    "seeds",
)
DEFAULT_PARTS = "cv,sections,seeds,speed,long,load,features,stanzas,errors,first_run"
#: ``predict.py`` metrics of the seeds part on the ``--sections-val`` songs.
SEED_SECTION_KEYS = (
    "macro_f1",
    "section_border_f1",
    "section_f1_chorus",
    "section_f1_verse",
    "section_macro_f1",
)
#: Stanza-part rows whose border F1 the seeds part keeps.
SEED_STANZA_ROWS = ("without breaks", "with all its breaks")
LOSSES = ("cross_entropy", "boundary_aware", "focal", "tversky", "boundary", "compound")
log = logging.getLogger("benchmarks")


def machine() -> dict[str, Any]:
    """Describe the machine the numbers come from."""
    import torch

    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
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


def revision() -> str:
    """The git revision of the working tree, ``+dirty`` when it has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    # a copy of the tree on another machine, whose .git may not be this one's, names it
    if os.environ.get("BENCH_REVISION"):
        return os.environ["BENCH_REVISION"]
    rev = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return rev + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _median_runs(fn: Callable[[], float], repeats: int) -> dict[str, Any]:
    runs = [fn() for _ in range(repeats)]
    return {"median_s": statistics.median(runs), "runs_s": runs}


class Bench:
    """One invocation: its settings, scratch folder and what parts hand to later parts."""

    def __init__(self, args: argparse.Namespace, work: Path):
        self.args = args
        self.work = work
        self.songs = cv.read_corpus(args.corpus)
        self.corpus_songs = len(self.songs)
        if args.sample is not None and args.sample < len(self.songs):
            idx = sorted(random.Random(args.seed).sample(range(len(self.songs)), args.sample))
            self.songs = [self.songs[i] for i in idx]
        self.train_runs: list[dict[str, Any]] = []  # lyrics_best trainings (wall times)
        self._ckpt: str | None = str(args.ckpt) if args.ckpt else None
        self._seeded: dict[int, str] = {}  # model seed -> checkpoint trained here

    @property
    def base_overrides(self) -> list[str]:
        """``--epochs`` and ``--override``: for every training run of this bench."""
        epochs = [f"trainer.max_epochs={self.args.epochs}"] if self.args.epochs else []
        return [*epochs, *self.args.override]

    @property
    def overrides(self) -> list[str]:
        """:attr:`base_overrides` plus the extra corpora, for runs outside the folds."""
        extra = [cv.extra_dirs_override(self.args.extra)] if self.args.extra else []
        return [*self.base_overrides, *extra]

    def checkpoint(self) -> str:
        """A ``lyrics_best`` model: ``--ckpt``, a fold's model, or the first one trained here."""
        if self._ckpt is None:
            self._ckpt = self.seed_checkpoints()[0]
        return self._ckpt

    def seed_checkpoints(self) -> list[str]:
        """One ``lyrics_best`` model per ``--model-seeds``, each trained here once.

        Each trains in its own ``python train.py`` process on the corpus's train/val split
        plus ``--extra`` (the shipped model's command, with its seed); their wall times are
        the speed part's training row.
        """
        for seed in self.args.model_seeds:
            if seed in self._seeded:
                continue
            log.info("training experiment=lyrics_best seed=%d on %s", seed, self.args.corpus)
            summary = cv.train_process(
                [
                    "experiment=lyrics_best",
                    f"data.data_dir={self.args.corpus}",
                    f"seed={seed}",
                    *self.overrides,
                ],
                self.work / f"train-seed{seed}",
                self.work,
            )
            self.train_runs.append({"seed": seed, **summary})
            self._seeded[seed] = summary["best_checkpoint"]
        return [self._seeded[s] for s in self.args.model_seeds]

    def held_out_stanzas(self) -> tuple[list[Any], dict[str, Any]]:
        """The stanza corpus's held-out artists' songs (``--quick``: a few) and the split."""
        from lyricseg.data.stanzas import (
            HELD_OUT_SHARE,
            SPLIT_SALT,
            read_stanza_corpus,
            stanza_split,
        )

        songs, meta = read_stanza_corpus(self.args.stanzas)
        train, held = stanza_split(songs, meta)
        split = {
            "held_out_share": HELD_OUT_SHARE,
            "salt": SPLIT_SALT,
            "train_songs": len(train),
            "held_out_songs": len(songs) - len(train),
        }
        return (held[:QUICK_STANZA_SONGS] if self.args.quick else held), split

    # -- parts -------------------------------------------------------------------------
    def part_cv(self) -> dict[str, Any]:
        """Cross-validated quality of ``--recipes``."""
        settings = CVSettings(
            folds=self.args.folds,
            seed=self.args.seed,
            train_seed=self.args.train_seed,
            val_fraction=self.args.val_fraction,
            extra_dirs=list(self.args.extra),
            overrides=self.base_overrides,
            jobs=self.args.jobs,
            threads=self.args.threads,
            launcher=self.args.launcher,
        )
        keep = self.args.out / "cv"
        keep.mkdir(parents=True, exist_ok=True)
        result = cv.run_cv(self.songs, self.args.recipes, settings, self.work / "cv", keep)
        sampled = len(self.songs) < self.corpus_songs
        result["protocol"].update(
            corpus=str(self.args.corpus),
            corpus_songs=self.corpus_songs,
            sample=len(self.songs) if sampled else None,
        )
        for name, recipe in result["recipes"].items():
            for fold in recipe["folds"]:
                ckpt = fold.pop("checkpoint", None)
                if name == "lyrics_best":
                    self._ckpt = self._ckpt or ckpt
                    if self.args.jobs == 1:  # concurrent runs' wall times are no speed figure
                        self.train_runs.append({"wall_s": fold["train_wall_s"], **fold})
        return result

    def part_sections(self) -> dict[str, Any]:
        """Section scores on a held-out sectioned corpus, without and with stanza breaks.

        The songs of ``--sections-val`` (split by artist from the extra corpus's training
        songs) are tagged by the model as given (no blank lines), then again with a blank
        line before every header change, as the original transcriptions had. Also times the
        headed-lyrics converter on invented files.
        """
        ckpt = self.checkpoint()
        source = self.args.sections_val
        songs = read_jsonl(source)
        broken = [
            dataclasses.replace(
                s, breaks=tuple(i for i, h in enumerate(s.sections) if i and h != s.sections[i - 1])
            )
            for s in songs
        ]
        work = self.work / "sections"
        rows = {}
        for name, variant in (("without breaks", songs), ("with breaks", broken)):
            file = work / f"{name.replace(' ', '-')}.jsonl"
            write_jsonl(file, variant)
            out = work / f"{name.replace(' ', '-')}.out.jsonl"
            cv.predict_process(ckpt, file, out)
            rows[name] = json.loads(out.with_name(out.name + ".metrics.json").read_text())
        return {
            "corpus": str(source),
            "songs": len(songs),
            "rows": rows,
            "converter": converter_throughput(work / "headed", self.args.repeats),
        }

    def part_speed(self) -> dict[str, Any]:
        """Whole-process timings, start-up included (medians of ``--repeats``)."""
        ckpt = self.checkpoint()
        corpus_file = self.work / "speed" / "corpus.jsonl"
        cv.write_jsonl(corpus_file, self.songs)
        one_song = self.work / "speed" / "song.txt"
        one_song.write_text("\n".join(self.songs[0].lines) + "\n", encoding="utf-8")
        out = self.work / "speed" / "out.jsonl"
        repeats = self.args.repeats

        predict_corpus = _median_runs(lambda: cv.predict_process(ckpt, corpus_file, out), repeats)
        cmd = [
            sys.executable,
            str(REPO / "predict.py"),
            f"ckpt={ckpt}",
            f"input={one_song}",
            f"hydra.run.dir={self.work / 'speed' / 'one'}",
        ]

        def cold_one() -> float:
            start = time.perf_counter()
            subprocess.run(cmd, cwd=REPO, capture_output=True, check=True)
            return time.perf_counter() - start

        rows = [
            {
                "key": "predict_corpus",
                "what": f"`python predict.py` on the corpus ({len(self.songs)} songs)",
                **predict_corpus,
                "songs": len(self.songs),
                "songs_per_s": len(self.songs) / predict_corpus["median_s"],
            },
            {
                "key": "predict_one_cold",
                "what": "`python predict.py` on one song (.txt), fresh process",
                **_median_runs(cold_one, repeats),
            },
        ]
        if self.train_runs:
            walls = [r["wall_s"] for r in self.train_runs]
            best = [r["to_best_s"] for r in self.train_runs if r.get("to_best_s") is not None]
            where = (
                # a job of the cv multirun: from its start to its summary, no interpreter start-up
                "one fold's inner train/val (a job of the cv multirun, start-up not included)"
                if "fold" in self.train_runs[0]
                else "the corpus's train/val split, cold feature cache"
                + (" (the first run; the others warm)" if len(self.train_runs) > 1 else "")
            )
            if self.args.extra:
                where += " plus " + ", ".join(f"`{d.name}/train.jsonl`" for d in self.args.extra)
            rows.append(
                {
                    "key": "train_lyrics_best",
                    "what": f"`python train.py experiment=lyrics_best` on {where}",
                    "median_s": statistics.median(walls),
                    "runs_s": walls,
                    "to_best_median_s": statistics.median(best) if best else None,
                }
            )
        return {"repeats": repeats, "whole_process": True, "rows": rows}

    def part_first_run(self) -> dict[str, Any]:
        """``make train`` on a fresh clone: whole process, quiet and beside busy processes.

        Each run starts ``python train.py`` (plus ``--override``/``--epochs``, for tests) in
        an empty folder, so the corpus is generated and featurized as on a fresh clone,
        without ``OMP_NUM_THREADS`` or ``--threads``: the defaults a user gets. The busy runs
        share the machine with ``--busy`` processes that spin on the CPU.
        """
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
            and k != "LYRICSEG_ROOT"
        }
        cmd = [sys.executable, str(REPO / "train.py"), *self.base_overrides]
        runs: dict[str, list[dict[str, Any]]] = {"quiet": [], "busy": []}

        def once(kind: str) -> float:
            folder = self.work / "first_run" / f"{kind}-{len(runs[kind])}"
            folder.mkdir(parents=True)
            load = os.getloadavg()[0]
            start = time.perf_counter()
            done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(f"python train.py failed: {done.stderr[-3000:]}")
            (summary,) = (folder / "logs" / "train" / "runs").glob("*/summary.json")
            summary = json.loads(summary.read_text())
            runs[kind].append(
                {
                    "wall_s": wall,
                    "load_avg": load,
                    "epochs": summary["epochs"],
                    "best_score": summary["best_score"],
                }  # fmt: skip
            )
            return wall

        quiet = _median_runs(lambda: once("quiet"), self.args.repeats)
        spin = [sys.executable, "-c", "while True: pass"]
        busy_procs = [subprocess.Popen(spin) for _ in range(self.args.busy)]
        try:
            busy = _median_runs(lambda: once("busy"), self.args.repeats)
        finally:
            for proc in busy_procs:
                proc.kill()
                proc.wait()
        where = f"beside {self.args.busy} busy-loop process{'es' if self.args.busy > 1 else ''}"
        rows = [
            {"key": "first_run_quiet", "what": "quiet machine", **quiet, "runs": runs["quiet"]},
            {"key": "first_run_busy", "what": where, **busy, "runs": runs["busy"]},
        ]
        return {
            "command": " ".join(["python train.py", *self.base_overrides]),
            "repeats": self.args.repeats,
            "busy": self.args.busy,
            "cores": os.cpu_count(),
            "slowdown": busy["median_s"] / quiet["median_s"],
            "rows": rows,
        }

    def part_features(self) -> dict[str, Any]:
        """Featurization cost of each ``--feature-sets`` config, on ``--feature-songs`` songs.

        In this process, without the cache: the first song's time (which loads what the views
        need, e.g. the sentence-embedding model) apart, then the median over ``--repeats`` of
        the others' total. A set whose optional package is missing is recorded as such.
        """
        from hydra import compose, initialize_config_dir
        from hydra.utils import instantiate

        songs = self.songs[: self.args.feature_songs]
        lines = sum(len(s) for s in songs[1:])
        rows = []
        for name in self.args.feature_sets:
            with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
                cfg = compose(config_name="train", overrides=[f"features={name}"])
            extractor = instantiate(cfg.features)
            row: dict[str, Any] = {"features": name, "songs": len(songs), "dim": extractor.dim}
            try:
                start = time.perf_counter()
                extractor.extract(songs[0].lines)
                row["first_song_s"] = time.perf_counter() - start
            except LyricsegError as err:
                rows.append({**row, "error": str(err)})
                continue

            def rest(extractor=extractor) -> float:
                start = time.perf_counter()
                for song in songs[1:]:
                    extractor.extract(song.lines)
                return time.perf_counter() - start

            timing = _median_runs(rest, self.args.repeats)
            row.update(timing, ms_per_song=1000 * timing["median_s"] / max(1, len(songs) - 1))
            row["lines_per_s"] = lines / timing["median_s"]
            rows.append(row)
        return {"repeats": self.args.repeats, "rows": rows}

    def part_long(self) -> dict[str, Any]:
        """One very long song (``benchmarks.long_songs``)."""
        from benchmarks.long_songs import run_long_songs

        rows = run_long_songs(self.checkpoint(), tuple(self.args.lengths), self.args.repeats)
        return {"repeats": self.args.repeats, "rows": rows}

    def part_load(self) -> dict[str, Any]:
        """The HTTP service under load (``benchmarks.load``)."""
        from benchmarks.load import run_load

        ckpt = self.checkpoint()
        rows = run_load(ckpt, self.args.load_n, self.args.concurrency)
        return {"rows": rows}

    def part_losses(self) -> dict[str, Any]:
        """Each loss family on the corpus's own train/val split (single split, val scores)."""
        rows = {}
        for loss in self.args.losses:
            runs = []
            for seed in self.args.seeds:
                run_dir = self.work / "losses" / f"{loss}-{seed}"
                overrides = ["data=lyrics", f"loss={loss}", f"data.data_dir={self.args.corpus}"]
                summary = cv.train_process(
                    [*overrides, f"seed={seed}", *self.overrides], run_dir, self.work
                )
                runs.append(summary)
            mean, std = cv.mean_std([r["best_val"] for r in runs])
            rows[f"loss={loss}"] = {"mean": mean, "std": std, "epochs": [r["epochs"] for r in runs]}
        return {"protocol": "single split (val)", "seeds": self.args.seeds, "rows": rows}

    def part_stanzas(self) -> dict[str, Any]:
        """Stanza borders of the stanza corpus's held-out artists (``benchmarks.stanzas``)."""
        from benchmarks.stanzas import run_stanzas

        held, split = self.held_out_stanzas()
        threads = self.args.threads or 1
        result = run_stanzas(self.args.ckpt, held, self.args.seed, threads)
        return {
            "corpus": str(self.args.stanzas),
            "ckpt": str(self.args.ckpt) if self.args.ckpt else None,
            "split": split,
            "threads": threads,
            **result,
        }

    def part_seeds(self) -> dict[str, Any]:
        """How much a training seed moves ``lyrics_best`` on data no choice was made on.

        Each model of :meth:`seed_checkpoints` tags the ``--sections-val`` songs as given (no
        blank lines; ``predict.py``'s metrics) and the stanza corpus's held-out artists
        (:func:`benchmarks.stanzas.run_stanzas`); per seed, then mean, sample standard
        deviation and spread (max - min) of each figure.
        """
        from benchmarks.stanzas import run_stanzas

        held, _ = self.held_out_stanzas()
        songs_file = Path(self.args.sections_val)
        ckpts = self.seed_checkpoints()
        runs = {r["seed"]: r for r in self.train_runs if "seed" in r}
        rows = []
        for seed, ckpt in zip(self.args.model_seeds, ckpts, strict=True):
            out = self.work / "seeds" / f"seed{seed}.out.jsonl"
            out.parent.mkdir(parents=True, exist_ok=True)
            cv.predict_process(ckpt, songs_file, out)
            sections = json.loads(out.with_name(out.name + ".metrics.json").read_text())
            stanzas = run_stanzas(ckpt, held, self.args.seed, self.args.threads or 1)["rows"]
            scores = {f"sections/{k}": sections.get(k) for k in SEED_SECTION_KEYS}
            scores.update({f"stanzas/{k}": stanzas[k]["border_f1"] for k in SEED_STANZA_ROWS})
            run = runs.get(seed, {})
            rows.append(
                {
                    "seed": seed,
                    "scores": scores,
                    "epochs": run.get("epochs"),
                    "train_wall_s": run.get("wall_s"),
                }  # fmt: skip
            )
        summary = {}
        for key in rows[0]["scores"]:
            values = [r["scores"][key] for r in rows if r["scores"][key] is not None]
            if values:
                summary[key] = {
                    "mean": statistics.mean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "spread": max(values) - min(values),
                }
        return {
            "sections_corpus": str(songs_file),
            "sections_songs": len(read_jsonl(songs_file)),
            "stanzas_corpus": str(self.args.stanzas),
            "stanza_songs": len(held),
            "extra_dirs": [str(d) for d in self.args.extra],
            "rows": rows,
            "summary": summary,
        }

    def part_errors(self) -> dict[str, Any]:
        """Error types of out-of-fold or held-out predictions (``benchmarks.errors``)."""
        from benchmarks.errors import analyse_errors

        folder = self.args.errors_from or self.args.out / "cv"
        files = sorted(folder.glob("*.oof.jsonl")) if folder.is_dir() else []
        if self.args.errors_from is not None and not files:
            raise LyricsegError(
                f"{folder} holds no <recipe>.oof.jsonl files (the cv part writes them to <out>/cv)"
            )
        if files:
            by_id = {s.id: s for s in cv.read_corpus(self.args.corpus)}
            recipes = {}
            for file in files:
                name = file.name.removesuffix(".oof.jsonl")
                records = [json.loads(x) for x in file.read_text(encoding="utf-8").splitlines()]
                missing = [r["id"] for r in records if r["id"] not in by_id]
                if missing:
                    raise LyricsegError(
                        f"{file}: song '{missing[0]}' is not in {self.args.corpus} "
                        "(--corpus must be the corpus the cross-validation ran on)"
                    )
                base, _, seed = name.partition("@seed")
                label = cv.RECIPES[base].label if base in cv.RECIPES else name
                recipes[name] = {
                    "label": label + (f" — member seed {seed} alone" if seed else ""),
                    **analyse_errors([by_id[r["id"]] for r in records], records),
                }
            return {
                "predictions": "out-of-fold",
                "songs_file": str(self.args.corpus),
                "folder": str(folder),
                "recipes": recipes,
            }
        from benchmarks.stanzas import torch_threads
        from lyricseg.inference import Predictor

        songs = read_jsonl(self.args.errors_songs)
        with torch_threads(self.args.threads or 1):
            predicted = Predictor.from_checkpoint(self.args.ckpt).predict(songs)
        records = [record.to_dict() for record in predicted]
        model = f"`{self.args.ckpt}`" if self.args.ckpt else "the shipped model"
        return {
            "predictions": "model",
            "songs_file": str(self.args.errors_songs),
            "recipes": {"model": {"label": model, **analyse_errors(songs, records)}},
        }

    def part_gpu(self) -> dict[str, Any]:
        """Training time per epoch of ``lyrics_best`` on the CPU and, when present, the GPU.

        Each device trains ``--gpu-epochs`` epochs (no early stop that soon) in its own
        process, on the corpus's train/val split plus ``--extra``; the first run fills the
        feature cache that the others read, so ``fit_s`` (Lightning's fit: training and
        every val set, every epoch) is what compares.
        """
        import torch

        legs = {"cpu": ["trainer=cpu"]}
        if torch.cuda.is_available():
            legs["gpu 32-true"] = ["trainer=gpu"]
            legs["gpu bf16-mixed"] = ["trainer=gpu", "trainer.precision=bf16-mixed"]
        epochs = self.args.gpu_epochs
        rows = []
        for name, device in legs.items():
            summary = cv.train_process(
                [
                    "experiment=lyrics_best",
                    f"data.data_dir={self.args.corpus}",
                    f"seed={self.args.train_seed}",
                    *self.overrides,
                    f"trainer.max_epochs={epochs}",
                    *device,
                ],
                self.work / "gpu" / name.replace(" ", "-"),
                self.work,
            )
            fit_s = summary["metrics"]["time/fit_s"]
            rows.append(
                {
                    "device": name,
                    "epochs": summary["epochs"],
                    "fit_s": fit_s,
                    "epoch_s": fit_s / max(1, summary["epochs"]),
                    "wall_s": summary["wall_s"],
                    "threads": torch.get_num_threads() if name == "cpu" else None,
                }
            )
        cpu_epoch = rows[0]["epoch_s"]
        for row in rows:
            row["speedup_vs_cpu"] = cpu_epoch / row["epoch_s"]
        return {
            "epochs": epochs,
            "extra_dirs": [str(d) for d in self.args.extra],
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "rows": rows,
        }


def converter_throughput(folder: Path, repeats: int, n_songs: int = 400) -> dict[str, Any]:
    """Songs and lines per second of ``convert_paths`` on invented headed text files."""
    from lyricseg.data.ingest import convert_paths
    from lyricseg.data.synthetic import SyntheticCorpus
    from lyricseg.sections import default_section_map

    folder.mkdir(parents=True, exist_ok=True)
    songs = SyntheticCorpus(n_train=n_songs, n_val=0, n_test=0, seed=11).songs("train")
    lines = 0
    for song in songs:
        blocks, previous = [], None
        for line, label in zip(song.lines, song.labels, strict=True):
            if label != previous:
                blocks.append(["[Chorus]" if label else "[Verse]"])
                previous = label
            blocks[-1].append(line)
        lines += len(song)
        text = "\n\n".join("\n".join(block) for block in blocks) + "\n"
        (folder / f"{song.id}.txt").write_text(text, encoding="utf-8")
    section_map = default_section_map()

    def once() -> float:
        start = time.perf_counter()
        convert_paths([folder], section_map)
        return time.perf_counter() - start

    timing = _median_runs(once, repeats)
    return {
        **timing,
        "songs": len(songs),
        "lines": lines,
        "songs_per_s": len(songs) / timing["median_s"],
        "lines_per_s": lines / timing["median_s"],
    }


def read_bench(path: Path) -> dict[str, Any]:
    """An existing ``bench.json`` (its parts are kept unless rerun), or an empty one."""
    if path.is_file():
        try:
            bench = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(bench, dict) and isinstance(bench.get("parts"), dict):
                return bench
        except json.JSONDecodeError:
            pass
        log.warning("%s is not a bench file; starting a new one", path)
    return {"version": 1, "parts": {}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--parts", default=DEFAULT_PARTS, help=f"comma-separated, of {','.join(PARTS)}")
    add("--folds", type=int, default=None, help="cross-validation folds (5; --quick: 2)")
    add(
        "--recipes",
        default=None,
        help="comma-separated, of the cv recipes (default: all; with --merge: all of the part)",
    )
    add("--extra", type=Path, nargs="+", default=[], metavar="DIR", help="extra corpora")
    add("--quick", action="store_true", help="smoke run: 2 folds, 2 epochs, 100 songs")
    add("--corpus", type=Path, default=CORPUS, help="main corpus folder (train/val.jsonl)")
    add("--sample", type=int, default=None, help="use a seeded sample of this many songs")
    add("--epochs", type=int, default=None, help="trainer.max_epochs of every training")
    add("--override", action="append", default=[], help="a train.py override (repeatable)")
    add("--jobs", type=int, default=1, help="folds trained at the same time")
    add(
        "--launcher",
        default="parallel",
        help="Hydra launcher of the cv folds (conf/hydra/launcher): parallel (joblib) or slurm",
    )
    add("--threads", type=int, default=None, help="OMP_NUM_THREADS of every child process")
    add("--seed", type=int, default=0, help="seed of folds, inner splits and sample")
    add("--train-seed", type=int, default=1, help="seed= of the cv folds' training runs")
    add(
        "--model-seeds",
        default=None,
        help="comma-separated seed= of the models trained for the parts outside the folds "
        "(speed, sections, long, load, seeds; default: --train-seed)",
    )
    add("--val-fraction", type=float, default=0.15, help="inner val share of a fold's songs")
    add("--repeats", type=int, default=None, help="runs per speed figure (3; --quick: 1)")
    add("--ckpt", type=Path, default=None, help="model for sections/speed/long/load (else trained)")
    add(
        "--sections-val",
        type=Path,
        default=REPO.parent / "shared" / "data" / "extra" / "val.jsonl",
        help="held-out songs with sections (the sections part)",
    )
    add("--stanzas", type=Path, default=STANZAS, help="stanza corpus (the stanzas part)")
    add(
        "--errors-from",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of <recipe>.oof.jsonl for the errors part (default: <out>/cv if any)",
    )
    add(
        "--errors-songs",
        type=Path,
        default=REPO.parent / "shared" / "data" / "extra" / "val.jsonl",
        help="held-out labelled songs the errors part tags when no out-of-fold predictions",
    )
    add("--lengths", default="2000,5000", help="long-song lengths in lines")
    add("--load-n", type=int, default=500, help="requests per load level")
    add("--concurrency", default="1,8", help="load client counts")
    add("--losses", default=",".join(LOSSES), help="loss families of the losses part")
    add("--seeds", default="1,2,3", help="seeds of the losses part")
    add("--ablation", metavar="NAME", help="store the cv (or merged) part as this ablation row")
    add("--feature-sets", default="default,semantic", help="features= configs of the features part")
    add("--feature-songs", type=int, default=100, help="songs featurized by the features part")
    add("--gpu-epochs", type=int, default=3, help="epochs per device in the gpu part")
    add("--busy", type=int, default=1, help="busy-loop processes beside the first_run part")
    add(
        "--work",
        type=Path,
        default=None,
        help="scratch folder, kept (default: a temporary one, removed); with --launcher slurm, "
        "one on a file system the cluster's nodes share",
    )
    add("--out", type=Path, default=None, help="bench-results (--quick: bench-results/quick)")
    add("--no-publish", action="store_true", help="do not write docs/results.md and README")
    add("--docs", type=Path, default=None, help="generated results page (docs/results.md)")
    add("--readme", type=Path, default=None, help="README with the bench markers")
    add("--model-card", type=Path, default=None, help="model card with the bench markers")
    add("--no-readme", action="store_true", help="publish docs/results.md only")
    add("--render", action="store_true", help="only re-render <out>/bench.json; run no part")
    add("--merge", type=Path, metavar="OTHER", help="only merge a part of another bench.json")
    add("--part", default="cv", help="with --merge: its part to take")
    add("--into", default=None, help="with --merge: cv, ablation (--ablation NAME) or a part")
    args = parser.parse_args(argv)
    quick = args.quick
    args.folds = args.folds or (2 if quick else 5)
    args.repeats = args.repeats or (1 if quick else 3)
    args.epochs = args.epochs or (2 if quick else None)
    if quick and args.sample is None:
        args.sample = 100
    if quick and args.lengths == "2000,5000":
        args.lengths = "500"
    if quick and args.load_n == 500:
        args.load_n = 20
    args.out = args.out or REPO / ("bench-results/quick" if quick else "bench-results")
    args.parts = [p for p in args.parts.split(",") if p]
    given = args.recipes is not None
    args.recipes = [r for r in args.recipes.split(",") if r] if given else list(cv.RECIPES)
    args.lengths = [int(x) for x in args.lengths.split(",") if x]
    args.concurrency = [int(x) for x in args.concurrency.split(",") if x]
    args.losses = [x for x in args.losses.split(",") if x]
    args.seeds = [int(x) for x in args.seeds.split(",") if x]
    seeds = args.model_seeds or str(args.train_seed)
    args.model_seeds = list(dict.fromkeys(int(x) for x in seeds.split(",") if x))
    args.feature_sets = [x for x in args.feature_sets.split(",") if x]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    if args.merge and not args.into:
        parser.error("--merge needs --into")
    if args.merge:  # a merge takes recipe names from the other file
        args.recipes = args.recipes if given else None
        return args
    unknown = set(args.recipes) - set(cv.RECIPES)
    if unknown:
        parser.error(f"unknown recipes {sorted(unknown)}; choose from {','.join(cv.RECIPES)}")
    return args


def publish_paths(args: argparse.Namespace) -> tuple[Path, Path | None, Path | None]:
    """The results page, README and model card to write (``--docs``, ``--readme``, ...)."""
    from benchmarks import render

    if args.no_readme:
        return args.docs or render.DOCS, None, None
    return (
        args.docs or render.DOCS,
        args.readme or render.README,
        args.model_card or render.MODEL_CARD,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the parts, merge them into ``<out>/bench.json`` and render the results.

    With ``--render`` or ``--merge``, only re-render or merge (no part runs).
    """
    from benchmarks import merge, render
    from lyricseg.utils.io import atomic_write_json

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s")
    if args.render or args.merge:
        try:
            if args.merge:
                log.info(
                    merge.merge_file(
                        args.merge,
                        args.out / "bench.json",
                        args.part,
                        args.into,
                        args.ablation,
                        args.recipes,
                    )
                )
            else:
                render.rerender(args.out / "bench.json", *publish_paths(args))
                log.info("rendered %s", args.out / "bench.json")
        except LyricsegError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if args.threads is not None:  # every child process: train, predict, long songs, server
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    for folder in [args.corpus, *args.extra]:
        if not (folder / "train.jsonl").is_file():
            print(
                f"error: {folder}/train.jsonl not found (corpus: --corpus or "
                "LYRICSEG_CORPUS_DIR; extra corpora: --extra)",
                file=sys.stderr,
            )
            return 2
    bench_file = args.out / "bench.json"
    bench = read_bench(bench_file)
    meta_base = {
        "command": "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "revision": revision(),
        "quick": args.quick,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    failed = []
    scratch = (
        contextlib.nullcontext(str(args.work))
        if args.work
        else tempfile.TemporaryDirectory(prefix="lyricseg-bench-")
    )
    with scratch as tmp:
        try:
            runner = Bench(args, Path(tmp))
        except LyricsegError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for part in args.parts:
            log.info("== part %s", part)
            started = time.perf_counter()
            load_before = os.getloadavg()[0]
            date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            try:
                result = getattr(runner, f"part_{part}")()
            except ImportError as err:
                result = {"error": f"part '{part}' is not available: {err}"}
            except Exception as err:  # recorded; the other parts still run
                log.exception("part %s failed", part)
                result = {"error": f"{type(err).__name__}: {err}"}
            if "error" in result:
                failed.append(part)
            result["meta"] = {
                **meta_base,
                "date": date,
                "wall_s": time.perf_counter() - started,
                # other work on the machine slows every figure: say how busy it was
                "load_avg": [load_before, os.getloadavg()[0]],
            }
            if part == "cv" and args.ablation:
                merge.add_ablation(bench, args.ablation, result)
            else:
                bench["parts"][part] = result
            atomic_write_json(bench_file, bench)  # every finished part is kept
    log.info("wrote %s", bench_file)
    (args.out / "bench.md").write_text(render.render(bench, full=True), encoding="utf-8")
    if not args.quick and not args.no_publish:
        try:
            render.publish(bench, *publish_paths(args))
        except LyricsegError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    if failed:
        print(f"error: parts failed: {', '.join(failed)} (see {bench_file})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
