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

from lyricseg.features.views import SSM

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


def diagonal_runs(same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal run lengths through each cell of a boolean similarity matrix.

    Computed row by row: ``before[i, j] = same[i, j] * (before[i - 1, j - 1] + 1)`` going
    down, then the same recurrence going up gives the cells after; rows without any True
    cell are skipped.

    Args:
        same: ``[n, n]`` bool, True where lines ``i`` and ``j`` count as repeated.

    Returns:
        ``(before, total)``, both ``[n, n]`` (int16, int32 from 32,767 lines on):
        ``before[i, j]`` is how many cells of the run through ``(i, j)`` lie at or before
        it, ``total[i, j]`` the run's full length (0 where ``same`` is False).
    """
    n = same.shape[0]
    dtype = np.int16 if n < np.iinfo(np.int16).max else np.int32
    busy = np.flatnonzero(same.any(axis=1))
    before = np.zeros((n, n), dtype=dtype)
    for i in busy:
        row = before[i]
        if i > 0:  # a row left out holds zeros, which the recurrence reads correctly
            np.add(before[i - 1, :-1], 1, out=row[1:])
            row[0] = 1
            np.multiply(row, same[i], out=row)
        else:
            row[:] = same[i]
    total = np.zeros((n, n), dtype=dtype)
    # after[i, j] = same[i, j] * (after[i + 1, j + 1] + 1), kept for one row (padded by a 0)
    after, below = np.zeros(n + 1, dtype=dtype), np.zeros(n + 1, dtype=dtype)
    last = n
    for i in busy[::-1]:
        if last != i + 1:
            below[:] = 0
        np.add(below[1:], 1, out=after[:n])
        np.multiply(after[:n], same[i], out=after[:n])
        np.add(before[i], after[:n], out=total[i])
        np.subtract(total[i], same[i], out=total[i])
        after, below, last = below, after, i
    return before, total


def row_statistics(ssm: SSM, threshold: float) -> np.ndarray:
    """Per-line statistics of an SSM over the other lines (the diagonal excluded).

    Computed over distinct keys with their multiplicities, which is exact: a line's row
    holds ``table[key, k]`` once for every other line of key ``k``.

    Args:
        ssm: The song's self-similarity matrix.
        threshold: Value at or above which a pair counts as similar.

    Returns:
        ``[n, len(ROW_STATS)]`` float32: max, mean, mean of the top 3, share above threshold.
    """
    n = len(ssm)
    if n == 1:
        return np.zeros((1, len(ROW_STATS)), dtype=np.float32)
    table, counts, others = ssm.table, ssm.counts, n - 1
    u = len(table)
    diag = np.diagonal(table)
    weights = counts.astype(np.float32)
    sums = table @ weights - diag
    above = (table >= np.float32(threshold)).astype(np.float32) @ weights
    above -= diag >= np.float32(threshold)
    # The best keys of each row; a row's own key counts once less (the line itself), so the
    # best 4 always hold 3 other lines (or all of them).
    values, index = torch.topk(torch.from_numpy(table), min(4, u), dim=1)
    values, index = values.numpy(), index.numpy()
    avail = counts[index] - (index == np.arange(u)[:, None])
    k = min(3, others)
    left = np.full(u, k)
    top = np.zeros(u, dtype=np.float64)
    peak = np.zeros(u, dtype=np.float32)
    for c in range(values.shape[1]):
        take = np.minimum(avail[:, c], left)
        top += take * values[:, c].astype(np.float64)
        peak = np.where((left == k) & (take > 0), values[:, c], peak)
        left -= take
    stats = np.stack([peak, sums / others, top / k, above / others], axis=1)
    return stats.astype(np.float32)[ssm.keys]


def _sparse_runs(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`diagonal_runs` at the True cells of a sparse matrix, in O(cells).

    Args:
        rows: ``[m]`` row of each True cell, in row-major order.
        cols: ``[m]`` its column.
        n: Size of the matrix.

    Returns:
        ``(before, total)``, ``[m]`` int32 each, as :func:`diagonal_runs` at those cells.
    """
    m = len(rows)
    diag = (cols - rows).astype(np.int16 if n < 1 << 14 else np.int32)
    # A stable sort by diagonal keeps each diagonal's cells in row order (radix sort on int16).
    order = np.argsort(diag, kind="stable")
    d, r = diag[order], rows[order]
    start = np.ones(m, dtype=bool)
    start[1:] = (d[1:] != d[:-1]) | (r[1:] != r[:-1] + 1)
    first = np.flatnonzero(start)
    run = np.cumsum(start) - 1
    before, total = np.empty(m, dtype=np.int32), np.empty(m, dtype=np.int32)
    before[order] = np.arange(m) - first[run] + 1
    total[order] = np.diff(np.append(first, m))[run]
    return before, total


def _row_summaries(
    rows: np.ndarray, cols: np.ndarray, before: np.ndarray, total: np.ndarray, n: int
) -> np.ndarray:
    """Per-row counts of the True cells of a thresholded SSM and of their diagonal runs.

    Args:
        rows: ``[m]`` row of each True cell, in row-major order; a row is either complete
            or absent.
        cols: ``[m]`` its column.
        before: ``[m]`` cells of its run at or before it.
        total: ``[m]`` length of its run.
        n: Number of rows.

    Returns:
        ``[n, 10]`` int64: longest run, partners in runs of at least 2/3/4 lines, partners
        earlier/later in the song, any block partner earlier/later, and ``before``/``total``
        of the earliest cell holding the row's longest run (zeros for absent rows).
    """
    out = np.zeros((n, 10), dtype=np.int64)
    if not len(rows):
        return out
    block, earlier = total >= 2, cols < rows
    out[:, 1] = np.bincount(rows[block], minlength=n)
    out[:, 2] = np.bincount(rows[total >= 3], minlength=n)
    out[:, 3] = np.bincount(rows[total >= 4], minlength=n)
    out[:, 4] = np.bincount(rows[earlier], minlength=n)
    out[:, 5] = np.bincount(rows, minlength=n) - out[:, 4]
    out[:, 6] = np.bincount(rows[block & earlier], minlength=n) > 0
    out[:, 7] = np.bincount(rows[block & ~earlier], minlength=n) > 0
    starts = np.flatnonzero(np.append(True, rows[1:] != rows[:-1]))
    present = rows[starts]
    longest = np.maximum.reduceat(total, starts)
    out[present, 0] = longest
    # The earliest cell of each row holding its longest run (a dense argmax's choice).
    hits = np.flatnonzero(total == np.repeat(longest, np.diff(np.append(starts, len(rows)))))
    firsts = hits[np.append(True, rows[hits][1:] != rows[hits][:-1])]
    out[rows[firsts], 8] = before[firsts]
    out[rows[firsts], 9] = total[firsts]
    return out


def block_statistics(same: np.ndarray, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per-line repeated-block statistics of a thresholded SSM.

    A sparse matrix (the usual case: few lines resemble each other) is summarized from its
    True cells alone; a dense one through :func:`diagonal_runs`, ``chunk`` rows at a time.

    Args:
        same: ``[n, n]`` bool; the diagonal is ignored.
        chunk: Rows summarized at a time on a dense matrix (bounds the temporaries).

    Returns:
        ``(features, run_max)``: ``[n, len(BLOCK_STATS)]`` float32 statistics (log counts of
        partners in runs of at least 2/3/4 lines, copies earlier and later, whether the line
        starts or ends a repeated block) and ``[n]`` int32, each line's longest run.
    """
    n = same.shape[0]
    if np.diagonal(same).any():
        same = same.copy()
        np.fill_diagonal(same, False)
    if np.count_nonzero(same) <= n * n // 16:
        rows, cols = np.nonzero(same)
        stats = _row_summaries(rows, cols, *_sparse_runs(rows, cols, n), n)
    else:
        before, total = diagonal_runs(same)
        stats = np.zeros((n, 10), dtype=np.int64)
        for r0 in range(0, n, chunk):
            rows, cols = np.nonzero(same[r0 : r0 + chunk])
            rows += r0
            stats += _row_summaries(rows, cols, before[rows, cols], total[rows, cols], n)
    run_max, n2, n3, n4, earlier, later, block_earlier, block_later, best_before, best_total = (
        stats.T
    )
    song_max = max(int(run_max.max()), 1)
    is_block = best_total >= 2
    feats = [
        np.log1p(run_max),
        run_max / song_max,
        np.log1p(n2),
        np.log1p(n3),
        np.log1p(n4),
        np.log1p(earlier),
        np.log1p(later),
        block_earlier,
        block_later,
        is_block & (best_before == 1),
        is_block & (best_before == best_total),
    ]
    return np.stack(feats, axis=1).astype(np.float32), run_max.astype(np.int32)
