"""Properties every loss must have, for every conf/loss/*.yaml and extra variants."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _loss_cases import ALL_CASES, batches, build, random_logits, run
from hypothesis import given, settings

SETTINGS = settings(max_examples=25, deadline=None)


def _check_result(total, components, grad):
    assert total.ndim == 0
    assert torch.isfinite(total)
    assert torch.isfinite(grad).all()
    assert components
    for value in components.values():
        assert value.ndim == 0
        assert torch.isfinite(value)


@pytest.mark.parametrize("case", ALL_CASES)
@SETTINGS
@given(data=batches())
def test_finite_for_huge_logits(case, data):
    target, mask, seed = data
    loss = build(case)
    logits = random_logits((*target.shape, 2), seed).sign() * 1e4
    _check_result(*run(loss, logits, target, mask))
    # Exactly right and exactly wrong saturated predictions as well.
    onehot = F.one_hot(target, 2).float() * 2 - 1
    for logits in (onehot * 1e4, -onehot * 1e4):
        _check_result(*run(loss, logits, target, mask))


@pytest.mark.parametrize("case", ALL_CASES)
@SETTINGS
@given(data=batches())
def test_padding_contributes_nothing(case, data):
    target, mask, seed = data
    loss = build(case)
    logits = random_logits((*target.shape, 2), seed, scale=3.0)
    total, components, grad = run(loss, logits, target, mask)
    changed_logits = logits.clone()
    changed_logits[~mask] = random_logits(changed_logits[~mask].shape, seed + 1, scale=1e3)
    changed_target = torch.where(mask, target, torch.full_like(target, -100))
    changed_logits_nan = changed_logits.clone()
    changed_logits_nan[~mask] = float("nan")
    for other_logits, other_target in (
        (changed_logits, target),
        (changed_logits, changed_target),
        (changed_logits_nan, target),
    ):
        other_total, other_components, other_grad = run(loss, other_logits, other_target, mask)
        torch.testing.assert_close(other_total, total)
        torch.testing.assert_close(other_grad, grad)
        assert other_components.keys() == components.keys()
    assert (grad[~mask] == 0).all()


@pytest.mark.parametrize("case", ALL_CASES)
def test_all_padding_gives_zero(case):
    loss = build(case)
    target = torch.randint(0, 2, (3, 5))
    mask = torch.zeros(3, 5, dtype=torch.bool)
    logits = torch.randn(3, 5, 2) * 10
    total, components, grad = run(loss, logits, target, mask)
    _check_result(total, components, grad)
    if "uncertainty" not in case:
        # Uncertainty weighting adds its log-variance regulariser even without data.
        assert total.item() == 0.0
    assert (grad == 0).all()


@pytest.mark.parametrize("case", ALL_CASES)
@pytest.mark.parametrize("label", [0, 1])
def test_single_line_songs(case, label):
    loss = build(case)
    for target, mask in (
        (torch.tensor([[label]]), torch.tensor([[True]])),
        (
            torch.tensor([[label, 0, 1], [1 - label, 1, 1]]),
            torch.tensor([[1, 0, 0], [1, 0, 0]]).bool(),
        ),
    ):
        logits = torch.randn(*target.shape, 2)
        _check_result(*run(loss, logits, target, mask))


@pytest.mark.parametrize("case", ALL_CASES)
@pytest.mark.parametrize("label", [0, 1])
def test_songs_without_boundary(case, label):
    loss = build(case)
    target = torch.full((2, 6), label)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 4:] = False
    for scale in (1.0, 1e4):
        _check_result(*run(loss, torch.randn(2, 6, 2) * scale, target, mask))


@pytest.mark.parametrize("case", ALL_CASES)
@SETTINGS
@given(data=batches(min_len=1))
def test_decreases_towards_targets(case, data):
    target, mask, seed = data
    loss = build(case)
    direction = F.one_hot(target, 2).float() * 2 - 1
    noise = random_logits((*target.shape, 2), seed, scale=0.1)
    values = [
        run(loss, noise + step * direction, target, mask)[0].item() for step in (-2, -1, 0, 0.5)
    ]
    assert all(later < earlier for earlier, later in zip(values, values[1:], strict=False)), values


@pytest.mark.parametrize("case", ALL_CASES)
def test_describe_is_one_line(case):
    text = build(case).describe()
    assert text and "\n" not in text


@pytest.mark.parametrize("case", ALL_CASES)
def test_half_precision_logits(case):
    loss = build(case)
    target = torch.tensor([[0, 0, 1, 1, 0]])
    mask = torch.ones(1, 5, dtype=torch.bool)
    logits = torch.randn(1, 5, 2).to(torch.bfloat16).requires_grad_(True)
    total, _ = loss(logits, target, mask)
    total.backward()
    assert torch.isfinite(total) and total.dtype == torch.float32
    assert logits.grad is not None and torch.isfinite(logits.grad.float()).all()
