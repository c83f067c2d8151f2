"""The bench's cross-validation as one Hydra multirun: same out-of-fold figures as training
each fold on its own.

Training is deterministic here: every run seeds everything (``seed=``, workers included),
uses one torch thread (``torch_threads: 1``) on the CPU and reads the same fold files, so a
fold's model does not depend on whether its job ran alone, in-process or in a joblib worker
beside another fold. Before the multirun, the bench trained each fold in its own
``python train.py`` process; on this corpus and settings both gave byte-identical
out-of-fold predictions (``benchmarks.cv.run_cv`` at revision 3b37263 against this one, with
the recipe, settings and 2 folds of the test below, one job: pooled macro F1 0.971,
boundary F1 0.931, WindowDiff 0.107, ECE 0.042; 2026-12-07, 2 CPU cores), and the reference
below reproduces that per-fold training in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from support import REPO, TINY, TINY_MODEL, train_tiny

from benchmarks import cv
from benchmarks.folds import assign_folds
from lyricseg.metrics import evaluate_songs

#: Tiny, fast and still learning something (pooled macro F1 ~0.97: figures that can differ).
TRAINING = [
    *TINY_MODEL,
    "logger=none",
    "callbacks.validation_images=null",
    "callbacks.lr_monitor=null",
    "callbacks.model_summary=null",
    "trainer.max_epochs=8",
    "optimizer.lr=0.02",
]
KEYS = ("macro_f1", "boundary_f1", "boundary_f1_tol1", "window_diff", "pk", "ece")


def test_fold_overrides_give_each_job_its_fold(tmp_path):
    """The swept fold index picks the fold's data folder and run folder (composed, no run)."""
    settings = cv.CVSettings(folds=3, jobs=2)
    root = tmp_path / "it's work"  # a quote and a space survive the override grammar
    overrides = cv.fold_overrides(settings, root, (1,))
    assert "+cv.fold=0,1,2" in overrides and "hydra.launcher.n_jobs=2" in overrides
    assert "hydra/launcher=parallel" in overrides
    job = [o for o in overrides if not o.startswith(("+cv.fold", "hydra/", "hydra."))]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=tiny", *job, "+cv.fold=2"])
    assert cfg.data.data_dir == f"{root}/fold-2/data" and cfg.seed == 1
    subdir = next(o for o in overrides if o.startswith("hydra.sweep.subdir="))
    assert subdir.endswith("=fold-${cv.fold}")
    members = cv.fold_overrides(settings, root, (1, 2), members=True)
    assert "seed=1,2" in members and "hydra.sweep.subdir=fold-${cv.fold}/seed-${seed}" in members
    slurm = cv.fold_overrides(cv.CVSettings(jobs=8, launcher="slurm"), root, (1,))
    assert "hydra/launcher=slurm" in slurm and "hydra.launcher.array_parallelism=8" in slurm


def test_multirun_cv_matches_training_each_fold_alone(tmp_path, monkeypatch):
    """2 folds of the tiny corpus as one joblib multirun (2 jobs) against an in-process
    reference: each fold's model trained alone with the same seed and settings, then
    predicting its held-out fold."""
    from lyricseg.inference import Predictor

    monkeypatch.setitem(cv.RECIPES, "tiny", cv.Recipe(label="tiny", overrides=("data=tiny",)))
    songs = cv.read_corpus(TINY)
    settings = cv.CVSettings(folds=2, overrides=TRAINING, jobs=2, threads=1)
    work = tmp_path / "work"
    result = cv.run_cv(songs, ["tiny"], settings, work, keep=tmp_path)
    tiny = result["recipes"]["tiny"]
    assert result["protocol"]["launcher"] == "parallel" and tiny["train_wall_s"] > 0
    assert [f["fold"] for f in tiny["folds"]] == [0, 1]
    assert all(f["train_wall_s"] > 0 and f["epochs"] >= 1 for f in tiny["folds"])

    # the reference: the old protocol, one training per fold, in this process
    folds = assign_folds(songs, settings.folds, settings.seed, settings.threshold)
    expected: dict[str, dict] = {}
    for fold in range(settings.folds):
        held = [s for s, f in zip(songs, folds, strict=True) if f == fold]
        _, objects = train_tiny(
            tmp_path / f"ref-{fold}",
            *TRAINING,
            f"data.data_dir={work / f'fold-{fold}' / 'data'}",
            f"seed={settings.train_seed}",
            "test=false",
        )
        predicted = Predictor.from_checkpoint(objects["best_path"]).predict(held)
        for song, record in zip(held, predicted, strict=True):
            expected[song.id] = {"gold": list(song.labels), **record.to_dict()}
    reference = [expected[s.id] for s in songs]
    pooled = evaluate_songs(
        [r["labels"] for r in reference],
        [r["gold"] for r in reference],
        [r["probs"] for r in reference],
    )
    assert pooled["macro_f1"] > 0.6  # a model that learned: the figures below can differ
    for key in KEYS:
        assert tiny["pooled"][key] == pytest.approx(pooled[key], abs=5e-4), key
    oof = [json.loads(x) for x in (tmp_path / "tiny.oof.jsonl").read_text().splitlines()]
    assert [r["id"] for r in oof] == [s.id for s in songs]
    for record, ref in zip(oof, reference, strict=True):
        assert record["labels"] == ref["labels"]
        assert record["probs"] == pytest.approx(ref["probs"], abs=5e-4)


def test_failed_multirun_is_an_error_with_its_output(tmp_path, monkeypatch):
    """A multirun that fails (here: an override Hydra refuses before any job starts) fails
    the cross-validation, with the multirun's own words."""
    recipe = cv.Recipe(label="broken", overrides=("data=tiny", "model.net.no_such_key=1"))
    monkeypatch.setitem(cv.RECIPES, "broken", recipe)
    settings = cv.CVSettings(folds=2, overrides=TRAINING, threads=1)
    with pytest.raises(RuntimeError, match="multirun failed") as err:
        cv.run_cv(cv.read_corpus(TINY), ["broken"], settings, Path(tmp_path))
    assert "no_such_key" in str(err.value)
