"""The bench's first_run part: ``make train`` timed whole, quiet and beside a busy process."""

from __future__ import annotations

import json

import pytest
from support import TINY_MODEL

from benchmarks import render, run
from lyricseg.data import SyntheticCorpus

#: A run of seconds instead of the real first run (the lead measures that on a quiet machine).
TINY_TRAIN = [
    *TINY_MODEL,
    "data.generator.n_train=12",
    "data.generator.n_val=6",
    "data.generator.n_test=0",
    "test=false",
    "logger=none",
    "callbacks.lr_monitor=null",
    "callbacks.validation_images=null",
    "callbacks.model_summary=null",
    "callbacks.progress_bar=null",
    "+trainer.enable_progress_bar=false",
]


@pytest.mark.slow  # two training processes and a busy loop: ~15 s quiet, a minute on a busy box
def test_first_run_part_times_quiet_and_busy_runs(tmp_path):
    SyntheticCorpus(n_train=4, n_val=2, n_test=0, seed=3).write(tmp_path / "corpus")
    out = tmp_path / "out"
    argv = ["--parts", "first_run", "--repeats", "1", "--epochs", "1", "--no-publish"]
    argv += ["--corpus", str(tmp_path / "corpus"), "--out", str(out)]
    for override in TINY_TRAIN:
        argv += ["--override", override]
    assert run.main(argv) == 0
    bench = json.loads((out / "bench.json").read_text())
    part = bench["parts"]["first_run"]
    assert part["busy"] == 1 and part["repeats"] == 1
    assert part["command"].startswith("python train.py trainer.max_epochs=1")
    quiet, busy = part["rows"]
    for row in (quiet, busy):
        (one,) = row["runs"]
        assert one["epochs"] == 1 and one["wall_s"] == row["median_s"] > 0
        assert one["load_avg"] >= 0
    assert part["slowdown"] == busy["median_s"] / quiet["median_s"]
    assert {"cpu", "cores"} <= set(part["meta"]["machine"]) and part["meta"]["load_avg"]
    # The README table is generated from this JSON.
    block = render.render(bench, full=False)
    assert "### First run: `make train`" in block and "beside 1 busy-loop process" in block
    assert f"{part['slowdown']:.1f}× its quiet time" in block
