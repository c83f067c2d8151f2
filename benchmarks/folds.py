"""Cross-validation folds by song that keep near-duplicate songs together.

Two songs that are near-duplicates (:func:`~lyricseg.data.audit.near_duplicate_pairs`) are
the same lyrics in all but layout, so one must never be trained on while the other is
scored. The near-duplicate graph's connected components ("groups") are therefore placed
whole: :func:`assign_folds` deals groups to ``k`` folds, largest first, each to the fold
with the fewest songs so far, which keeps fold sizes within one group's size of each other;
:func:`inner_split` splits a fold's training songs into inner train and val the same way.
Both are deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from lyricseg.data.audit import near_duplicate_pairs
from lyricseg.data.songs import Song
from lyricseg.utils.errors import LyricsegError


def near_duplicate_groups(songs: Sequence[Song], threshold: float = 0.5) -> list[list[int]]:
    """Connected components of the near-duplicate graph.

    Args:
        songs: The songs.
        threshold: Near-duplicate share (see :func:`~lyricseg.data.audit.near_duplicate_pairs`).

    Returns:
        Groups of indices into ``songs``, each sorted, ordered by their first index; a song
        without near-duplicates is a group of its own.
    """
    parent = list(range(len(songs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in near_duplicate_pairs(songs, threshold):
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(songs)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _shuffled_by_size(groups: list[list[int]], seed: int) -> list[list[int]]:
    """Groups in a seeded random order, then stably by size, largest first."""
    order = list(groups)
    random.Random(seed).shuffle(order)
    return sorted(order, key=len, reverse=True)


def assign_folds(
    songs: Sequence[Song], k: int = 5, seed: int = 0, threshold: float = 0.5
) -> list[int]:
    """Assign each song to one of ``k`` folds, near-duplicate groups kept whole.

    Groups are dealt largest first (ties in a seeded random order) to the fold with the
    fewest songs (ties: the lowest fold), so no two folds differ by more than the largest
    group's size.

    Args:
        songs: The songs.
        k: Number of folds, at least 2 and at most the number of groups.
        seed: Seed of the tie-breaking order.
        threshold: Near-duplicate share that joins two songs.

    Returns:
        The fold (``0 .. k-1``) of each song, in the order of ``songs``.

    Raises:
        LyricsegError: When ``k`` is below 2 or there are fewer groups than folds.
    """
    groups = near_duplicate_groups(songs, threshold)
    if k < 2 or len(groups) < k:
        raise LyricsegError(
            f"cannot make {k} folds from {len(songs)} songs in {len(groups)} near-duplicate "
            "groups: need k >= 2 and at least k groups"
        )
    sizes = [0] * k
    folds = [-1] * len(songs)
    for group in _shuffled_by_size(groups, seed):
        fold = min(range(k), key=lambda f: (sizes[f], f))
        sizes[fold] += len(group)
        for i in group:
            folds[i] = fold
    return folds


def inner_split(
    indices: Sequence[int],
    songs: Sequence[Song],
    val_fraction: float = 0.15,
    seed: int = 0,
    threshold: float = 0.5,
) -> tuple[list[int], list[int]]:
    """Split a fold's training songs into inner train and val, near-duplicate groups whole.

    Groups (among ``songs[indices]``) are visited in a seeded random order and go to val
    while they fit under ``round(val_fraction * len(indices))`` songs; when no group fits,
    the smallest goes to val. At least one group always stays in train.

    Args:
        indices: Indices into ``songs`` of the fold's training songs.
        songs: All songs.
        val_fraction: Target share of val songs, in ``(0, 1)``.
        seed: Seed of the visiting order.
        threshold: Near-duplicate share that joins two songs.

    Returns:
        ``(train, val)``: sorted indices into ``songs``.

    Raises:
        LyricsegError: For a fraction outside ``(0, 1)`` or fewer than two groups.
    """
    if not 0 < val_fraction < 1:
        raise LyricsegError(f"val_fraction must be in (0, 1), got {val_fraction}")
    indices = list(indices)
    groups = near_duplicate_groups([songs[i] for i in indices], threshold)
    if len(groups) < 2:
        raise LyricsegError(f"cannot split {len(indices)} songs in {len(groups)} group(s)")
    random.Random(seed).shuffle(groups)
    target = min(max(1, round(val_fraction * len(indices))), len(indices) - 1)
    val: list[list[int]] = []
    train: list[list[int]] = []
    taken = 0
    for group in groups:
        fits = taken + len(group) <= target
        (val if fits else train).append(group)
        taken += len(group) if fits else 0
    if not val:  # every group is larger than the target: the smallest one goes to val
        val.append(train.pop(min(range(len(train)), key=lambda g: len(train[g]))))
    return (
        sorted(indices[i] for group in train for i in group),
        sorted(indices[i] for group in val for i in group),
    )
