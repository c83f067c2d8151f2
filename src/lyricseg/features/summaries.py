"""Reductions of a self-similarity matrix to per-line statistics.

Two families:

* row statistics of the similarity values, with the diagonal excluded (a line always
  matches itself, which made the row maximum a constant 1 in earlier systems);
* repeated-block statistics on the thresholded matrix: the length of the run along the
  diagonal through each cell (line ``i + k`` resembling line ``j + k`` for consecutive ``k``)
  is what separates a returning chorus from a line that merely recurs.
"""

from __future__ import annotations

import numpy as np
import torch

ROW_STATS = ("max", "mean", "top3", "frac_above")
BLOCK_STATS = (
    "run_max_log",
    "run_max_rel",
    "n_run2_log",
    "n_run3_log",
    "n_run4_log",
    "earlier_log",
    "later_log",
    "block_earlier",
    "block_later",
    "block_start",
    "block_end",
)


def _sheared(matrix: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Lay the diagonals of an ``[n, n]`` matrix out as rows of a ``[2n-1, n]`` array.

    Row ``j - i + n - 1`` holds diagonal ``j - i``, indexed by ``i``: runs along a diagonal
    become runs along the last (contiguous) axis, where cumulative scans are fastest.
    """
    n = matrix.shape[0]
    rows = np.arange(n)[:, None]
    diag = np.arange(n)[None, :] - rows + n - 1
    sheared = np.zeros((2 * n - 1, n), dtype=matrix.dtype)
    index = (diag, np.broadcast_to(rows, (n, n)))
    sheared[index] = matrix
    return sheared, index


def _runs(mask: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each cell along the last axis, ``int32``."""
    counts = np.cumsum(mask, axis=-1, dtype=np.int32)
    reset = np.maximum.accumulate(np.where(mask, 0, counts), axis=-1)
    return counts - reset


def diagonal_runs(same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal run lengths through each cell of a boolean similarity matrix.

    Args:
        same: ``[n, n]`` bool, True where lines ``i`` and ``j`` count as repeated.

    Returns:
        ``(before, total)``, both ``[n, n]`` int32: ``before[i, j]`` is how many cells of the
        run through ``(i, j)`` lie at or before it, ``total[i, j]`` the run's full length
        (0 where ``same`` is False).
    """
    sheared, index = _sheared(same)
    before = _runs(sheared)
    # Scan a contiguous reversed copy: accumulating over a negative-stride view is slower.
    after = _runs(np.ascontiguousarray(sheared[:, ::-1]))[:, ::-1]
    total = np.where(sheared, before + after - 1, 0)
    return before[index], total[index]


def row_statistics(sim: np.ndarray, threshold: float) -> np.ndarray:
    """Per-line statistics of an SSM with the diagonal excluded.

    Args:
        sim: ``[n, n]`` float similarities in [0, 1].
        threshold: Value at or above which a pair counts as similar.

    Returns:
        ``[n, len(ROW_STATS)]`` float32: max, mean, mean of the top 3, share above threshold.
    """
    n = sim.shape[0]
    if n == 1:
        return np.zeros((1, len(ROW_STATS)), dtype=np.float32)
    off = sim.copy()
    np.fill_diagonal(off, 0.0)
    others = n - 1
    k = min(3, others)
    top = torch.topk(torch.from_numpy(off), k, dim=1).values.numpy()
    above = (off >= threshold).sum(axis=1) - 0.0
    stats = [off.max(axis=1), off.sum(axis=1) / others, top.mean(axis=1), above / others]
    return np.stack(stats, axis=1).astype(np.float32)


def block_statistics(same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-line repeated-block statistics of a thresholded SSM.

    Args:
        same: ``[n, n]`` bool; the diagonal is ignored.

    Returns:
        ``(features, run_max)``: ``[n, len(BLOCK_STATS)]`` float32 statistics (log counts of
        partners in runs of at least 2/3/4 lines, copies earlier and later, whether the line
        starts or ends a repeated block) and ``[n]`` int32, each line's longest run.
    """
    n = same.shape[0]
    same = same.copy()
    np.fill_diagonal(same, False)
    before, total = diagonal_runs(same)
    run_max = total.max(axis=1)
    song_max = max(int(run_max.max()), 1)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    in_block = total >= 2
    # Position inside the longest block: first line (before == 1) or last line (before == total).
    best = total.argmax(axis=1)
    best_before = before[np.arange(n), best]
    best_total = total[np.arange(n), best]
    is_block = best_total >= 2
    feats = [
        np.log1p(run_max),
        run_max / song_max,
        np.log1p(in_block.sum(axis=1)),
        np.log1p((total >= 3).sum(axis=1)),
        np.log1p((total >= 4).sum(axis=1)),
        np.log1p((same & ~upper).sum(axis=1)),
        np.log1p((same & upper).sum(axis=1)),
        (in_block & ~upper).any(axis=1),
        (in_block & upper).any(axis=1),
        is_block & (best_before == 1),
        is_block & (best_before == best_total),
    ]
    return np.stack(feats, axis=1).astype(np.float32), run_max.astype(np.int32)
