"""Each loss against a direct formula on small hand-checked cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lyricseg.losses import (
    BoundaryAwareLoss,
    BoundaryLoss,
    CrossEntropyLoss,
    FocalLoss,
    TverskyLoss,
)
from lyricseg.losses.base import boundary_lines, class_weights_from_counts, dilate
from lyricseg.losses.boundary import signed_distance_maps
from lyricseg.losses.boundary_aware import segment_ids, segment_variance
from lyricseg.utils import LyricsegError

TARGET = torch.tensor([[0, 0, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0]]).bool()


def logits_for(seed: int = 0) -> torch.Tensor:
    return torch.randn(*TARGET.shape, 2, generator=torch.Generator().manual_seed(seed)) * 2


def real_lines(logits, target=TARGET, mask=MASK):
    return logits[mask], target[mask]


# ---------------------------------------------------------------- cross-entropy and weights


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("weights", [None, [0.3, 1.7]])
def test_ce_matches_torch(smoothing, weights):
    logits = logits_for(1)
    loss = CrossEntropyLoss(label_smoothing=smoothing, class_weights=weights)
    total, components = loss(logits, TARGET, MASK)
    flat_logits, flat_target = real_lines(logits)
    expected = F.cross_entropy(
        flat_logits,
        flat_target,
        weight=None if weights is None else torch.tensor(weights),
        label_smoothing=smoothing,
    )
    torch.testing.assert_close(total, expected)
    assert components.keys() == {"ce"}


def test_ce_balanced_weights_from_batch_then_from_counts():
    logits = logits_for(2)
    loss = CrossEntropyLoss(class_weights="balanced")
    flat_logits, flat_target = real_lines(logits)
    counts = torch.bincount(flat_target, minlength=2).float()
    batch_weights = counts.sum() / (2 * counts)
    expected = F.cross_entropy(flat_logits, flat_target, weight=batch_weights)
    torch.testing.assert_close(loss(logits, TARGET, MASK)[0], expected)

    loss.set_class_counts([90, 10])
    set_weights = torch.tensor([100 / 180, 100 / 20])
    expected = F.cross_entropy(flat_logits, flat_target, weight=set_weights)
    torch.testing.assert_close(loss(logits, TARGET, MASK)[0], expected)


def test_effective_number_weights_match_cui_formula():
    beta, counts = 0.99, [300, 12]
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    expected = torch.tensor([r * 2 / sum(raw) for r in raw])
    got = class_weights_from_counts(torch.tensor(counts), "effective", beta=beta)
    torch.testing.assert_close(got, expected)
    capped = class_weights_from_counts(torch.tensor(counts), "effective", beta, max_weight=1.5)
    torch.testing.assert_close(capped, expected.clamp_max(1.5))


def test_balanced_weights_and_empty_class():
    got = class_weights_from_counts(torch.tensor([30.0, 10.0]), "balanced")
    torch.testing.assert_close(got, torch.tensor([40 / 60, 40 / 20]))
    assert torch.isfinite(class_weights_from_counts(torch.tensor([5.0, 0.0]), "balanced")).all()
    assert torch.isfinite(class_weights_from_counts(torch.tensor([5.0, 0.0]), "effective")).all()


def test_ce_effective_uses_set_counts():
    logits = logits_for(3)
    loss = CrossEntropyLoss(class_weights="effective", beta=0.9)
    loss.set_class_counts(torch.tensor([20, 4]))
    weights = class_weights_from_counts(torch.tensor([20, 4]), "effective", beta=0.9)
    expected = F.cross_entropy(*real_lines(logits), weight=weights)
    torch.testing.assert_close(loss(logits, TARGET, MASK)[0], expected)


def test_ce_entropy_bonus():
    logits = logits_for(4)
    loss = CrossEntropyLoss(entropy_lambda=0.2)
    total, components = loss(logits, TARGET, MASK)
    flat_logits, flat_target = real_lines(logits)
    probs = flat_logits.softmax(-1)
    entropy = -(probs * probs.log()).sum(-1).mean()
    ce = F.cross_entropy(flat_logits, flat_target)
    torch.testing.assert_close(components["entropy"], entropy)
    torch.testing.assert_close(total, ce - 0.2 * entropy)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"label_smoothing": 1.0},
        {"class_weights": "sqrt"},
        {"class_weights": [1.0, 2.0, 3.0]},
        {"beta": 1.0},
    ],
)
def test_ce_rejects_bad_settings(kwargs):
    with pytest.raises(LyricsegError):
        CrossEntropyLoss(**kwargs)


def test_set_class_counts_checks_length_and_is_not_persistent():
    loss = CrossEntropyLoss(class_weights="balanced")
    with pytest.raises(LyricsegError):
        loss.set_class_counts([1, 2, 3])
    loss.set_class_counts([3, 1])
    assert loss.class_counts.tolist() == [3.0, 1.0]
    assert "class_counts" not in loss.state_dict()
    CrossEntropyLoss(class_weights="balanced").load_state_dict(loss.state_dict())


# ---------------------------------------------------------------- boundary-aware


def test_boundary_lines_and_window():
    target = torch.tensor([[0, 0, 1, 1, 1, 0, 0, 0]])
    mask = torch.ones_like(target, dtype=torch.bool)
    starts = boundary_lines(target, mask, include_previous=False)
    assert starts.int().tolist() == [[0, 0, 1, 0, 0, 1, 0, 0]]
    both = boundary_lines(target, mask, include_previous=True)
    assert both.int().tolist() == [[0, 1, 1, 0, 1, 1, 0, 0]]
    assert dilate(starts, 1).int().tolist() == [[0, 1, 1, 1, 1, 1, 1, 0]]
    # A change into padding is not a transition.
    padded = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0]]).bool()
    assert boundary_lines(target, padded, True).int().tolist() == [[0, 1, 1, 0, 1, 1, 0, 0]]


def test_boundary_aware_primary_matches_hand_formula():
    logits = logits_for(5)
    loss = BoundaryAwareLoss(
        label_smoothing=0.1,
        boundary_weight=3.0,
        segment_consistency_lambda=0.0,
        conf_penalty_lambda=0.0,
    )
    total, components = loss(logits, TARGET, MASK)
    per_line = F.cross_entropy(
        logits.reshape(-1, 2), TARGET.reshape(-1), label_smoothing=0.1, reduction="none"
    )
    per_line = per_line.view(TARGET.shape)
    # Transitions: song 0 at lines 2 and 5 (+ lines 1 and 4), song 1 at line 2 (+ line 1).
    scale = torch.ones(TARGET.shape)
    scale[0, [1, 2, 4, 5]] = 3.0
    scale[1, [1, 2]] = 3.0
    expected = (per_line * scale)[MASK].sum() / scale[MASK].sum()
    torch.testing.assert_close(total, expected)
    assert components.keys() == {"ce"}


def test_boundary_aware_separate_term():
    logits = logits_for(6)
    loss = BoundaryAwareLoss(
        label_smoothing=0.0,
        boundary_weight=2.5,
        use_boundary_as_primary=False,
        segment_consistency_lambda=0.0,
        conf_penalty_lambda=0.0,
    )
    total, components = loss(logits, TARGET, MASK)
    per_line = F.cross_entropy(logits.reshape(-1, 2), TARGET.reshape(-1), reduction="none").view(
        TARGET.shape
    )
    boundary = torch.zeros(TARGET.shape, dtype=torch.bool)
    boundary[0, [1, 2, 4, 5]] = True
    boundary[1, [1, 2]] = True
    ce = per_line[MASK].mean()
    boundary_ce = per_line[boundary].mean()
    torch.testing.assert_close(components["ce"], ce)
    torch.testing.assert_close(components["boundary"], boundary_ce)
    torch.testing.assert_close(total, ce + 1.5 * boundary_ce)


def test_boundary_aware_reduces_to_ce():
    logits = logits_for(7)
    plain = CrossEntropyLoss(label_smoothing=0.2, class_weights=[0.5, 2.0])
    aware = BoundaryAwareLoss(
        label_smoothing=0.2,
        class_weights=[0.5, 2.0],
        boundary_weight=1.0,
        segment_consistency_lambda=0.0,
        conf_penalty_lambda=0.0,
    )
    torch.testing.assert_close(aware(logits, TARGET, MASK)[0], plain(logits, TARGET, MASK)[0])


def _reference_segment_variance(values, target, mask):
    variances = []
    for row in range(target.shape[0]):
        n = int(mask[row].sum())
        start = 0
        for i in range(1, n + 1):
            if i == n or target[row, i] != target[row, i - 1]:
                segment = values[row, start:i]
                variances.append(((segment - segment.mean()) ** 2).mean())
                start = i
    return torch.stack(variances).mean() if variances else torch.tensor(0.0)


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.lists(st.integers(0, 1), min_size=6, max_size=6), min_size=1, max_size=3),
    lengths=st.lists(st.integers(0, 6), min_size=3, max_size=3),
    seed=st.integers(0, 1000),
)
def test_segment_variance_matches_loop(labels, lengths, seed):
    target = torch.tensor(labels)
    mask = torch.arange(6).unsqueeze(0) < torch.tensor(lengths[: len(labels)]).unsqueeze(1)
    values = torch.rand(target.shape, generator=torch.Generator().manual_seed(seed))
    expected = _reference_segment_variance(values, target, mask)
    torch.testing.assert_close(segment_variance(values, target, mask), expected)


def test_segment_ids_are_unique_per_song():
    ids = segment_ids(TARGET, MASK)
    assert ids[0].tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert ids[1, :4].tolist() == [7, 7, 8, 8]
    assert (ids[1, 4:] == 14).all()


def test_boundary_aware_consistency_and_confidence_terms():
    logits = logits_for(8) * 3
    loss = BoundaryAwareLoss(
        label_smoothing=0.15,
        boundary_weight=1.0,
        segment_consistency_lambda=0.5,
        conf_penalty_lambda=0.25,
        conf_threshold=0.9,
        entropy_lambda=0.1,
    )
    total, components = loss(logits, TARGET, MASK)
    probs = logits.softmax(-1)
    consistency = _reference_segment_variance(probs[..., 1], TARGET, MASK)
    confidence = ((probs.max(-1).values - 0.9).clamp_min(0) ** 2)[MASK].mean()
    entropy = -(probs * probs.log()).sum(-1)[MASK].mean()
    ce = F.cross_entropy(*real_lines(logits), label_smoothing=0.15)
    torch.testing.assert_close(components["consistency"], consistency)
    torch.testing.assert_close(components["confidence"], confidence)
    torch.testing.assert_close(components["entropy"], entropy)
    torch.testing.assert_close(total, ce + 0.5 * consistency + 0.25 * confidence - 0.1 * entropy)
    assert components.keys() == {"ce", "consistency", "confidence", "entropy"}


# ---------------------------------------------------------------- focal


def _focal_reference(logits, target, mask, alpha, gamma, smoothing=0.0):
    values = []
    for b in range(target.shape[0]):
        for t in range(target.shape[1]):
            if not mask[b, t]:
                continue
            probs = torch.softmax(logits[b, t].double(), -1).tolist()
            line = 0.0
            for c in range(2):
                q = (1 - smoothing) * (c == int(target[b, t])) + smoothing / 2
                line += -alpha[c] * q * (1 - probs[c]) ** gamma * math.log(probs[c])
            values.append(line)
    return sum(values) / len(values)


@pytest.mark.parametrize(
    ("alpha", "weights"), [(None, [1.0, 1.0]), (0.25, [0.75, 0.25]), ([0.4, 1.6], [0.4, 1.6])]
)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_focal_matches_hand_formula(alpha, weights, gamma, smoothing):
    logits = logits_for(9)
    loss = FocalLoss(alpha=alpha, gamma=gamma, label_smoothing=smoothing)
    total, components = loss(logits, TARGET, MASK)
    expected = _focal_reference(logits, TARGET, MASK, weights, gamma, smoothing)
    assert total.item() == pytest.approx(expected, rel=1e-5)
    assert components.keys() == {"focal"}


def test_focal_gamma_zero_is_ce():
    logits = logits_for(10)
    focal = FocalLoss(gamma=0.0, label_smoothing=0.1)(logits, TARGET, MASK)[0]
    ce = CrossEntropyLoss(label_smoothing=0.1)(logits, TARGET, MASK)[0]
    torch.testing.assert_close(focal, ce)


# ---------------------------------------------------------------- tversky


def _tversky_reference(probs, target, alpha, beta, smooth):
    tp = sum(p * g for p, g in zip(probs, target, strict=True))
    fp = sum(p * (1 - g) for p, g in zip(probs, target, strict=True))
    fn = sum((1 - p) * g for p, g in zip(probs, target, strict=True))
    return 1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def test_tversky_song_and_batch_scope():
    logits = logits_for(11)
    probs = logits.softmax(-1)[..., 1]
    songs = [
        (probs[0, :7].tolist(), TARGET[0, :7].tolist()),
        (probs[1, :4].tolist(), TARGET[1, :4].tolist()),
    ]
    per_song = [_tversky_reference(p, g, 0.3, 0.7, 1.0) for p, g in songs]
    total, components = TverskyLoss(alpha=0.3, beta=0.7, smooth=1.0)(logits, TARGET, MASK)
    assert total.item() == pytest.approx(sum(per_song) / 2, rel=1e-5)
    assert components.keys() == {"tversky"}

    batch = TverskyLoss(alpha=0.3, beta=0.7, smooth=1.0, reduction_scope="batch")
    expected = _tversky_reference(
        songs[0][0] + songs[1][0], songs[0][1] + songs[1][1], 0.3, 0.7, 1.0
    )
    assert batch(logits, TARGET, MASK)[0].item() == pytest.approx(expected, rel=1e-5)


def test_tversky_both_classes_and_dice_special_case():
    logits = logits_for(12)
    probs = logits.softmax(-1)
    both = TverskyLoss(alpha=0.5, beta=0.5, smooth=0.5, classes="both", reduction_scope="batch")
    expected = 0.0
    for c in range(2):
        p = probs[..., c][MASK].tolist()
        g = (TARGET[MASK] == c).float().tolist()
        tp = sum(a * b for a, b in zip(p, g, strict=True))
        dice = (2 * tp + 1.0) / (sum(p) + sum(g) + 1.0)  # Dice with smoothing 2 * 0.5
        expected += (1 - dice) / 2
    assert both(logits, TARGET, MASK)[0].item() == pytest.approx(expected, rel=1e-5)


def test_tversky_song_without_chorus():
    target = torch.zeros(1, 5, dtype=torch.long)
    mask = torch.ones(1, 5, dtype=torch.bool)
    logits = torch.randn(1, 5, 2)
    fp = logits.softmax(-1)[..., 1].sum().item()
    total = TverskyLoss(alpha=0.3, beta=0.7, smooth=1.0)(logits, target, mask)[0]
    assert total.item() == pytest.approx(1 - 1.0 / (0.3 * fp + 1.0), rel=1e-5)
    with pytest.raises(LyricsegError):
        TverskyLoss(smooth=0.0)


# ---------------------------------------------------------------- boundary (distance) loss


def test_signed_distances_on_tiny_sequence():
    target = torch.tensor([[0, 0, 1, 1, 1, 0, 9, 9]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0]]).bool()
    phi = signed_distance_maps(target, mask, 2)
    chorus = torch.tensor([1.5, 0.5, -0.5, -1.5, -0.5, 0.5, 0.0, 0.0]) / 6
    torch.testing.assert_close(phi[0, :, 1], chorus)
    torch.testing.assert_close(phi[0, :, 0], -chorus)


def test_signed_distances_without_the_other_class():
    target = torch.zeros(1, 4, dtype=torch.long)
    mask = torch.ones(1, 4, dtype=torch.bool)
    phi = signed_distance_maps(target, mask, 2)
    torch.testing.assert_close(phi[0, :, 0], torch.full((4,), -3.5 / 4))
    torch.testing.assert_close(phi[0, :, 1], torch.full((4,), 3.5 / 4))


def test_boundary_loss_value_and_optimum():
    target = torch.tensor([[0, 0, 1, 1, 1, 0]])
    mask = torch.ones(1, 6, dtype=torch.bool)
    logits = torch.randn(1, 6, 2)
    phi = signed_distance_maps(target, mask, 2)
    probs = logits.softmax(-1)
    onehot = F.one_hot(target, 2).float()
    expected = ((probs - onehot) * phi).mean()
    total, components = BoundaryLoss()(logits, target, mask)
    torch.testing.assert_close(total, expected)
    assert components.keys() == {"boundary"}
    # Same gradient as the paper's mean(p * phi).
    a = logits.clone().requires_grad_(True)
    BoundaryLoss()(a, target, mask)[0].backward()
    b = logits.clone().requires_grad_(True)
    (b.softmax(-1) * phi).mean().backward()
    torch.testing.assert_close(a.grad, b.grad)
    perfect = (onehot * 2 - 1) * 1e4
    assert BoundaryLoss()(perfect, target, mask)[0].item() == 0.0
    assert total.item() > 0


def test_boundary_mistake_far_from_border_costs_more():
    target = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1]])
    mask = torch.ones(1, 8, dtype=torch.bool)
    base = (F.one_hot(target, 2).float() * 2 - 1) * 5
    near, far = base.clone(), base.clone()
    near[0, 3] = -near[0, 3]
    far[0, 0] = -far[0, 0]
    loss = BoundaryLoss()
    assert loss(far, target, mask)[0] > loss(near, target, mask)[0]
