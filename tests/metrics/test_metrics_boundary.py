import itertools
import random

import pytest
import torch

from lyricseg.metrics import BoundaryMetrics
from lyricseg.metrics.functional import (
    _boundary_compute,
    _boundary_update,
    greedy_match_count,
)


def positions(labels):
    return [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]


def pairable(t, p, tol):
    return abs(t - p) <= tol


def exhaustive_matches(true_pos, pred_pos, tol):
    """Largest k such that some k gold and k predicted boundaries pair up within tol."""
    for k in range(min(len(true_pos), len(pred_pos)), 0, -1):
        for golds in itertools.combinations(true_pos, k):
            for preds in itertools.permutations(pred_pos, k):
                if all(pairable(t, p, tol) for t, p in zip(golds, preds, strict=True)):
                    return k
    return 0


def reference_matches(true_pos, pred_pos, tol):
    """Maximum bipartite matching by augmenting paths (Kuhn), blind to the line structure."""
    owner = {}  # predicted position -> gold position it is matched to

    def augment(t, seen):
        for p in pred_pos:
            if pairable(t, p, tol) and p not in seen:
                seen.add(p)
                if p not in owner or augment(owner[p], seen):
                    owner[p] = t
                    return True
        return False

    return sum(augment(t, set()) for t in true_pos)


def reference_scores(preds, targets):
    tp = {0: 0, 1: 0, 2: 0}
    n_pred = n_true = 0
    for p, t in zip(preds, targets, strict=True):
        bp, bt = positions(p), positions(t)
        n_pred += len(bp)
        n_true += len(bt)
        for tol in tp:
            tp[tol] += reference_matches(bt, bp, tol)

    def div(a, b):
        return a / b if b else 0.0

    out = {
        "boundary_precision": div(tp[0], n_pred),
        "boundary_recall": div(tp[0], n_true),
        "boundary_f1": div(2 * tp[0], n_pred + n_true),
        "boundary_f1_tol1": div(2 * tp[1], n_pred + n_true),
        "boundary_f1_tol2": div(2 * tp[2], n_pred + n_true),
    }
    return out


@pytest.mark.parametrize("seed", range(5))
def test_matches_reference_on_random_corpora(seed, corpus, batch):
    preds, targets, probs = corpus(100 + seed, 60)
    metric = BoundaryMetrics()
    for start in range(0, 60, 20):
        sl = slice(start, start + 20)
        p, t, m, q = batch(preds[sl], targets[sl], probs[sl])
        metric.update(preds=p, target=t, mask=m, probs=q)
    out = metric.compute()
    ref = reference_scores(preds, targets)
    assert set(out) == set(ref)
    for key, value in ref.items():
        assert out[key].item() == pytest.approx(value, abs=1e-12), key


def test_matches_reference_on_dense_random_boundaries(batch):
    # Many close boundaries make the one-to-one assignment matter.
    rng = random.Random(3)
    for _ in range(400):
        n = rng.randint(1, 25)
        t = [rng.randint(0, 1) for _ in range(n)]
        p = [rng.randint(0, 1) for _ in range(n)]
        pt, tt, m, _ = batch([p], [t], [[0.5] * n])
        counts = _boundary_update(pt, tt, m)
        bp, bt = positions(p), positions(t)
        expected = [len(bp), len(bt)] + [reference_matches(bt, bp, w) for w in (0, 1, 2)]
        assert counts.tolist() == expected


def test_hand_computed_case():
    # gold boundaries at 3 and 6; predicted at 2, 4 and 6.
    target = torch.tensor([[0, 0, 0, 1, 1, 1, 0, 0]])
    preds = torch.tensor([[0, 0, 1, 1, 0, 0, 1, 1]])
    mask = torch.ones_like(target, dtype=torch.bool)
    out = _boundary_compute(_boundary_update(preds, target, mask))
    assert out["boundary_precision"].item() == pytest.approx(1 / 3)
    assert out["boundary_recall"].item() == pytest.approx(1 / 2)
    assert out["boundary_f1"].item() == pytest.approx(2 / 5)
    # within 1 line: 6-6 and 3-2 (tie with 3-4, earlier predicted position wins) -> 2 hits.
    assert out["boundary_f1_tol1"].item() == pytest.approx(4 / 5)


def test_tolerant_matching_is_maximum():
    # gold {4, 5}, predicted {5, 6}, within 1 line: 4-5 and 5-6 both count. Pairing the
    # nearest pair 5-5 first would leave 4 and 6 unmatched and count only 1.
    assert greedy_match_count([4, 5], [5, 6], 1) == 2
    assert exhaustive_matches([4, 5], [5, 6], 1) == 2
    target = torch.tensor([[0, 0, 0, 0, 1, 0, 0]])
    preds = torch.tensor([[0, 0, 0, 0, 0, 1, 0]])
    mask = torch.ones_like(target, dtype=torch.bool)
    # exact: only 5 is common; within 1 line: 2 matches.
    assert _boundary_update(preds, target, mask, (1,)).tolist() == [2, 2, 1, 2]


def test_matching_equals_exhaustive_search_on_small_random_sets():
    rng = random.Random(11)
    for _ in range(600):
        span = rng.randint(1, 14)
        true_pos = sorted(rng.sample(range(1, span + 1), rng.randint(0, min(6, span))))
        pred_pos = sorted(rng.sample(range(1, span + 1), rng.randint(0, min(6, span))))
        tol = rng.randint(0, 3)
        best = exhaustive_matches(true_pos, pred_pos, tol)
        assert greedy_match_count(true_pos, pred_pos, tol) == best, (true_pos, pred_pos, tol)
        assert greedy_match_count(pred_pos[::-1], true_pos[::-1], tol) == best
        assert reference_matches(true_pos, pred_pos, tol) == best


def test_one_to_one_matching():
    # one gold boundary, two predictions next to it: only one may count.
    target = torch.tensor([[0, 0, 0, 1, 1, 1]])
    preds = torch.tensor([[0, 0, 1, 0, 1, 1]])
    mask = torch.ones_like(target, dtype=torch.bool)
    counts = _boundary_update(preds, target, mask)
    assert counts.tolist() == [3, 1, 1, 1, 1]


def test_padding_is_ignored():
    target = torch.tensor([[0, 1, 0, 1], [0, 0, 1, 0]])
    preds = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 1]])
    mask = torch.tensor([[True, True, False, False], [True, True, True, False]])
    counts = _boundary_update(preds, target, mask)
    # song 1: gold {1}, pred {1}; song 2: gold {2}, pred {} -> 1 pred, 2 gold, 1 exact hit.
    assert counts.tolist() == [1, 2, 1, 1, 1]
