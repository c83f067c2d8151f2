"""Time and peak memory of predicting one very long song, per song length (the ``long`` part
of ``python -m benchmarks.run``).

Each length runs in a fresh process (so peak RSS belongs to that length alone): it loads
the checkpoint, generates a song of invented lines (:class:`~lyricseg.data.SyntheticCorpus`
songs laid end to end), and times ``Predictor.predict([song])`` — features and model — as the
median of ``repeats`` runs. The features alone are timed the same way, for reference.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: What the per-length process runs: :func:`measure_one`, its row printed as JSON.
_ONE = (
    "import json, sys; from benchmarks.long_songs import measure_one; "
    "a = json.loads(sys.argv[1]); print(json.dumps(measure_one(**a)))"
)
log = logging.getLogger("benchmarks.long_songs")


def long_song(n_lines: int, seed: int = 0):
    """A song of ``n_lines`` invented lines: generated songs laid end to end, then cut."""
    from lyricseg.data import Song, SyntheticCorpus

    corpus = SyntheticCorpus(n_train=n_lines // 8 + 1, n_val=0, n_test=0, seed=seed)
    lines = [line for song in corpus.songs("train") for line in song.lines][:n_lines]
    if len(lines) < n_lines:
        raise RuntimeError(f"generated only {len(lines)} of {n_lines} lines")
    return Song(id=f"long-{n_lines}", lines=tuple(lines))


def measure_one(
    ckpt: str | Path, n_lines: int, repeats: int = 3, threads: int | None = None
) -> dict[str, Any]:
    """Measure one length in this process (call it in a fresh one, see :func:`run_long_songs`).

    Args:
        ckpt: A checkpoint written by ``train.py``.
        n_lines: Song length in lines.
        repeats: Runs; the median is reported.
        threads: Torch intra-op threads (torch's default when None).

    Returns:
        ``lines``, ``seconds`` (median whole prediction), ``runs_s`` (every run), ``cpu_s``
        (median CPU time of a prediction, all threads), ``features_s`` (median feature
        extraction alone), ``peak_rss_mb`` (this process's peak resident memory, MiB),
        ``threads`` (torch intra-op threads) and ``load_before`` (the machine's 1-minute load
        average when the measurement began: other work on the machine slows every figure).
    """
    import torch

    from lyricseg.inference import Predictor

    if threads is not None:
        torch.set_num_threads(threads)
    predictor = Predictor.from_checkpoint(ckpt)
    song = long_song(n_lines)
    load = os.getloadavg()[0]
    runs, cpu, feature_runs = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        predictor.features.extract(song.lines)
        feature_runs.append(time.perf_counter() - start)
        start, start_cpu = time.perf_counter(), time.process_time()
        (record,) = predictor.predict([song])
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        if len(record.labels) != n_lines:
            raise RuntimeError(f"{len(record.labels)} labels for {n_lines} lines")
    return {
        "lines": n_lines,
        "seconds": statistics.median(runs),
        "runs_s": runs,
        "cpu_s": statistics.median(cpu),
        "features_s": statistics.median(feature_runs),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        "load_before": load,
    }


def run_long_songs(
    ckpt: str | Path,
    lengths: tuple[int, ...] = (2000, 5000),
    repeats: int = 3,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """Measure each song length in a fresh process (see :func:`measure_one`).

    Args:
        ckpt: A checkpoint written by ``train.py``.
        lengths: Song lengths in lines.
        repeats: Runs per length; the median is reported.
        threads: Torch intra-op threads (torch's default when None).

    Returns:
        One dict per length (see :func:`measure_one`).
    """
    results = []
    for n in lengths:
        kwargs = {"ckpt": str(ckpt), "n_lines": n, "repeats": repeats, "threads": threads}
        cmd = [sys.executable, "-c", _ONE, json.dumps(kwargs)]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{n} lines failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        log.info("%d lines: %.2f s, %.0f MiB", n, row["seconds"], row["peak_rss_mb"])
        results.append(row)
    return results
