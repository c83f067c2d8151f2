import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from lyricseg.metrics import SegmentMetrics, TokenMetrics
from lyricseg.metrics.functional import _segment_compute, _segment_update, _token_compute


def runs(labels):
    out, start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[i - 1]:
            out.append((start, i - 1, labels[start]))
            start = i
    return out


def reference_segments(preds, targets):
    n_seg = complete = 0
    iou_sum = 0.0
    trans = {(0, 1): [0, 0], (1, 0): [0, 0]}
    for p, t in zip(preds, targets, strict=True):
        pred_runs = runs(p)
        for a, b, lab in runs(t):
            n_seg += 1
            complete += (a, b, lab) in pred_runs
            best = 0.0
            for c, d, _ in pred_runs:
                inter = max(0, min(b, d) - max(a, c) + 1)
                union = (b - a + 1) + (d - c + 1) - inter
                best = max(best, inter / union)
            iou_sum += best
        for i in range(1, len(t)):
            key = (t[i - 1], t[i])
            if key in trans:
                trans[key][1] += 1
                trans[key][0] += (p[i - 1], p[i]) == key

    def div(a, b):
        return a / b if b else 0.0

    return {
        "complete_segments": div(complete, n_seg),
        "segment_iou": div(iou_sum, n_seg),
        "transition_recall_v2c": div(*trans[(0, 1)]),
        "transition_recall_c2v": div(*trans[(1, 0)]),
    }


@pytest.mark.parametrize("seed", range(5))
def test_segments_match_reference(seed, corpus, batch):
    preds, targets, probs = corpus(200 + seed, 90)
    metric = SegmentMetrics()
    for start in range(0, 90, 30):
        sl = slice(start, start + 30)
        p, t, m, q = batch(preds[sl], targets[sl], probs[sl])
        metric.update(preds=p, target=t, mask=m, probs=q)
    out = metric.compute()
    ref = reference_segments(preds, targets)
    assert set(out) == set(ref)
    for key, value in ref.items():
        assert out[key].item() == pytest.approx(value, abs=1e-12), key


def test_segments_hand_computed():
    # gold V V C C C V, predicted V V C C V V
    target = torch.tensor([[0, 0, 1, 1, 1, 0]])
    preds = torch.tensor([[0, 0, 1, 1, 0, 0]])
    mask = torch.ones_like(target, dtype=torch.bool)
    out = _segment_compute(*_segment_update(preds, target, mask))
    # gold segments [0,1] complete, [2,4] not (line 4 wrong), [5,5] not (no boundary at 5).
    assert out["complete_segments"].item() == pytest.approx(1 / 3)
    # best IoUs: 1, 2/3, 1/2
    assert out["segment_iou"].item() == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    assert out["transition_recall_v2c"].item() == 1.0
    assert out["transition_recall_c2v"].item() == 0.0


def test_complete_needs_boundaries_at_both_ends():
    # gold V C V; predicting the chorus line right but merging nothing else is complete,
    # predicting all chorus makes the middle line correct but its segment incomplete.
    target = torch.tensor([[0, 1, 0], [0, 1, 0]])
    preds = torch.tensor([[0, 1, 0], [1, 1, 1]])
    mask = torch.ones_like(target, dtype=torch.bool)
    counts, _ = _segment_update(preds, target, mask)
    assert counts[:2].tolist() == [6, 3]


@pytest.mark.parametrize("seed", range(3))
def test_token_scores_match_sklearn(seed, corpus, batch):
    preds, targets, probs = corpus(300 + seed, 50)
    metric = TokenMetrics()
    p, t, m, q = batch(preds, targets, probs)
    metric.update(preds=p, target=t, mask=m, probs=q)
    out = metric.compute()
    flat_p = [x for song in preds for x in song]
    flat_t = [x for song in targets for x in song]
    f1 = f1_score(flat_t, flat_p, labels=[0, 1], average=None, zero_division=0)
    assert out["accuracy"].item() == pytest.approx(accuracy_score(flat_t, flat_p))
    assert out["verse_f1"].item() == pytest.approx(f1[0])
    assert out["chorus_f1"].item() == pytest.approx(f1[1])
    macro = f1_score(flat_t, flat_p, labels=[0, 1], average="macro", zero_division=0)
    assert out["macro_f1"].item() == pytest.approx(macro)
    assert out["pred_chorus_rate"].item() == pytest.approx(sum(flat_p) / len(flat_p))


def test_token_zero_division_follows_sklearn():
    confmat = torch.tensor([[5, 0], [0, 0]])  # no chorus in gold or predictions
    out = _token_compute(confmat)
    ref = f1_score([0] * 5, [0] * 5, labels=[0, 1], average=None, zero_division=0)
    assert out["verse_f1"].item() == ref[0] == 1.0
    assert out["chorus_f1"].item() == ref[1] == 0.0
    assert out["macro_f1"].item() == 0.5
