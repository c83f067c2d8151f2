import math
import random

import pytest
import torch
from nltk.metrics.segmentation import pk, windowdiff

from lyricseg.metrics import WindowMetrics
from lyricseg.metrics.functional import _window_compute, _window_update


def boundary_string(labels: list[int]) -> str:
    return "".join("1" if labels[i] != labels[i - 1] else "0" for i in range(1, len(labels)))


def reference_k(target: list[int]) -> int:
    n = len(target)
    n_segments = 1 + sum(target[i] != target[i - 1] for i in range(1, n))
    k = math.floor(n / n_segments / 2 + 0.5)
    return min(max(k, 1), n - 1)


def nltk_scores(preds, targets):
    wds, pks = [], []
    for p, t in zip(preds, targets, strict=True):
        if len(t) < 2:
            continue
        ref, hyp, k = boundary_string(t), boundary_string(p), reference_k(t)
        wds.append(windowdiff(ref, hyp, k))
        pks.append(pk(ref, hyp, k, boundary="1"))
    if not wds:
        return 0.0, 0.0
    return sum(wds) / len(wds), sum(pks) / len(pks)


@pytest.mark.parametrize("seed", range(6))
def test_matches_nltk_on_random_corpora(seed, corpus, batch):
    preds, targets, probs = corpus(seed, 80)
    metric = WindowMetrics()
    for start in range(0, 80, 16):
        sl = slice(start, start + 16)
        p, t, m, q = batch(preds[sl], targets[sl], probs[sl])
        metric.update(preds=p, target=t, mask=m, probs=q)
    out = metric.compute()
    ref_wd, ref_pk = nltk_scores(preds, targets)
    assert out["window_diff"].item() == pytest.approx(ref_wd, abs=1e-12)
    assert out["pk"].item() == pytest.approx(ref_pk, abs=1e-12)


def test_per_song_matches_nltk_including_tiny_songs(batch):
    rng = random.Random(7)
    cases = [([0], [0]), ([0, 1], [0, 0]), ([1, 1], [0, 1]), ([0, 0, 0], [0, 0, 0])]
    for _ in range(300):
        n = rng.randint(1, 30)
        t = [rng.randint(0, 1) for _ in range(n)] if rng.random() < 0.3 else [0] * n
        if rng.random() < 0.5 and n > 3:
            cut = rng.randint(1, n - 1)
            t = [0] * cut + [1] * (n - cut)
        p = [rng.randint(0, 1) for _ in range(n)]
        cases.append((p, t))
    for p_list, t_list in cases:
        p, t, m, q = batch([p_list], [t_list], [[0.5] * len(p_list)])
        sums = _window_update(p, t, m)
        if len(t_list) < 2:
            assert sums.tolist() == [0.0, 0.0, 0.0]
            continue
        ref, hyp, k = boundary_string(t_list), boundary_string(p_list), reference_k(t_list)
        assert sums[0].item() == pytest.approx(windowdiff(ref, hyp, k), abs=1e-12)
        assert sums[1].item() == pytest.approx(pk(ref, hyp, k, boundary="1"), abs=1e-12)
        assert sums[2].item() == 1.0


def test_hand_computed_case():
    # 8 lines, gold VVVVCCCC -> 2 segments, mean length 4, k = 2; 7 gaps, 6 windows.
    # gold gaps 0001000, predicted VVCCCCCC -> gaps 0100000.
    target = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1]])
    preds = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1]])
    mask = torch.ones_like(target, dtype=torch.bool)
    out = _window_compute(_window_update(preds, target, mask))
    # gold windows 00 00 01 10 00 00, predicted 01 10 00 00 00 00: windows 0-3 differ
    # (counts 0/1 each time), so 4/6 for both scores.
    assert out["window_diff"].item() == pytest.approx(4 / 6)
    assert out["pk"].item() == pytest.approx(4 / 6)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_perfect_and_empty():
    target = torch.tensor([[0, 0, 1, 1, 0], [1, 0, 0, 0, 0]])
    mask = torch.tensor([[True] * 5, [True, False, False, False, False]])
    out = _window_compute(_window_update(target, target, mask))
    assert out["window_diff"].item() == 0.0 and out["pk"].item() == 0.0
    metric = WindowMetrics()
    assert metric.compute()["window_diff"].item() == 0.0
