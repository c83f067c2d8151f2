"""Selecting the best epoch on every val song: the pooled ``val_all/`` metrics."""

import json

import pytest
from support import RESOURCES, TINY, train_tiny

from lyricseg.data.songs import read_jsonl

SECTIONS = RESOURCES / "tiny_sections"


def test_pooled_val_scores_every_val_set_and_can_select_the_best_epoch(tmp_path):
    metrics, objects = train_tiny(
        tmp_path,
        f"data.extra_dirs=[{SECTIONS}]",
        "monitor=val_all/boundary_f1",
        "trainer.max_epochs=2",
        "callbacks.validation_images=null",
    )
    lines = [sum(len(s) for s in read_jsonl(d / "val.jsonl")) for d in (TINY, SECTIONS)]
    accuracy = [metrics[f"{p}/accuracy"] for p in ("val", "val_tiny_sections")]
    pooled = sum(n * a for n, a in zip(lines, accuracy, strict=True)) / sum(lines)
    assert metrics["val_all/accuracy"] == pytest.approx(pooled, abs=1e-5)
    assert "val_all/boundary_f1_best" in metrics and "val/boundary_f1_best" not in metrics
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["best_score"] == pytest.approx(metrics["val_all/boundary_f1_best"])


def test_one_val_set_has_no_pooled_metrics(tmp_path):
    metrics, _ = train_tiny(tmp_path, "trainer.max_epochs=1", "callbacks.validation_images=null")
    assert not any(k.startswith("val_all/") for k in metrics)
