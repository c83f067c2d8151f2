import random
from collections import Counter

import pytest

from benchmarks.folds import assign_folds, inner_split, near_duplicate_groups
from lyricseg.data import Song
from lyricseg.utils.errors import LyricsegError

WORDS = ["lantern", "harbour", "paper", "river", "stone", "window", "echo", "meadow"]


def _corpus(group_sizes: list[int], seed: int = 0) -> tuple[list[Song], list[set[int]]]:
    """Songs whose near-duplicate groups are known by construction.

    A group of size m is a chain: song t holds lines 4t .. 4t+3 of the group's own line pool,
    so neighbours share 2 of 4 lines (share 0.5, near-duplicates) and songs two apart share
    none (joined only through the chain). No line occurs in two groups.
    """
    rng = random.Random(seed)
    songs, groups = [], []
    for g, size in enumerate(group_sizes):
        pool = [f"{rng.choice(WORDS)} {g} {x} {rng.choice(WORDS)}" for x in range(2 * size + 4)]
        members = set()
        for t in range(size):
            members.add(len(songs))
            songs.append(Song(id=f"g{g}-{t}", lines=tuple(pool[2 * t : 2 * t + 4])))
        groups.append(members)
    order = list(range(len(songs)))
    rng.shuffle(order)  # members of a group are not neighbours in the corpus
    where = {old: new for new, old in enumerate(order)}
    return [songs[i] for i in order], [{where[i] for i in g} for g in groups]


def test_groups_are_the_chains_built():
    songs, expected = _corpus([1, 3, 1, 4, 2, 1])
    assert sorted(map(sorted, near_duplicate_groups(songs))) == sorted(map(sorted, expected))


@pytest.mark.parametrize("k", [2, 3, 5])
def test_folds_keep_groups_whole_and_balance_sizes(k):
    sizes = [1] * 40 + [2] * 6 + [3, 5, 7]
    songs, groups = _corpus(sizes, seed=k)
    folds = assign_folds(songs, k=k, seed=1)
    assert len(folds) == len(songs) and set(folds) == set(range(k))
    for group in groups:
        assert len({folds[i] for i in group}) == 1  # never straddles two folds
    counts = Counter(folds)
    assert max(counts.values()) - min(counts.values()) <= max(sizes)
    # songs without near-duplicates only: sizes differ by at most one
    plain = assign_folds(_corpus([1] * 23)[0], k=k)
    assert max(Counter(plain).values()) - min(Counter(plain).values()) <= 1


def test_folds_are_deterministic_and_seeded():
    songs, _ = _corpus([1] * 30 + [2, 3, 4])
    first = assign_folds(songs, k=5, seed=3)
    assert assign_folds(songs, k=5, seed=3) == first
    other = assign_folds(songs, k=5, seed=4)
    assert other != first
    assert sorted(Counter(other).values()) == sorted(Counter(first).values())


def test_fold_count_is_checked():
    songs, _ = _corpus([2, 2, 1])
    with pytest.raises(LyricsegError, match="cannot make 4 folds"):
        assign_folds(songs, k=4)
    with pytest.raises(LyricsegError, match="k >= 2"):
        assign_folds(songs, k=1)


def test_inner_split_keeps_groups_whole():
    songs, groups = _corpus([1] * 50 + [2] * 10 + [4, 6], seed=2)
    folds = assign_folds(songs, k=5, seed=0)
    for fold in range(5):
        outer = [i for i, f in enumerate(folds) if f != fold]
        train, val = inner_split(outer, songs, val_fraction=0.15, seed=fold)
        assert sorted(train + val) == sorted(outer) and not set(train) & set(val)
        assert abs(len(val) - 0.15 * len(outer)) <= 6 and train
        for group in groups:
            inside = group & set(outer)
            assert inside <= set(train) or inside <= set(val)
        assert inner_split(outer, songs, 0.15, seed=fold) == (train, val)


def test_inner_split_edge_cases():
    songs, _ = _corpus([5, 6])
    train, val = inner_split(range(11), songs, val_fraction=0.1)  # no group fits the target
    assert (len(train), len(val)) == (6, 5)
    with pytest.raises(LyricsegError, match="val_fraction"):
        inner_split(range(11), songs, val_fraction=1.0)
    with pytest.raises(LyricsegError, match="1 group"):
        inner_split(range(5), _corpus([5])[0])
