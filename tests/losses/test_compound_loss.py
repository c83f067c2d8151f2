"""CompoundLoss: component parsing, weighting modes, naming and class counts."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from lyricseg.losses import (
    BoundaryAwareLoss,
    BoundaryLoss,
    CompoundLoss,
    CrossEntropyLoss,
    FocalLoss,
    TverskyLoss,
)
from lyricseg.utils import LyricsegError

TARGET = torch.tensor([[0, 0, 1, 1, 1, 0], [1, 1, 0, 0, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]]).bool()
LOGITS = torch.randn(2, 6, 2, generator=torch.Generator().manual_seed(0))


def parts():
    return {
        "focal": FocalLoss(gamma=2.0),
        "tversky": TverskyLoss(),
        "boundary": BoundaryLoss(),
    }


def values(losses):
    return {name: loss(LOGITS, TARGET, MASK)[0] for name, loss in losses.items()}


def test_fixed_weights_sum():
    components = parts()
    expected_parts = values(components)
    weights = {"focal": 1.0, "tversky": 0.5, "boundary": 0.25}
    loss = CompoundLoss(
        {name: {"weight": weights[name], "loss": m} for name, m in components.items()}
    )
    total, logged = loss(LOGITS, TARGET, MASK)
    expected = sum(weights[n] * expected_parts[n] for n in weights)
    torch.testing.assert_close(total, expected)
    assert logged.keys() == set(weights)
    for name in weights:
        torch.testing.assert_close(logged[name], expected_parts[name])
    assert loss.current_weights() == weights
    assert list(loss.parameters()) == []


def test_softmax_weights_are_parameters():
    components = parts()
    expected_parts = values(components)
    loss = CompoundLoss(
        {
            "focal": {"weight": 3.0, "loss": components["focal"]},
            "boundary": {"weight": 1.0, "loss": components["boundary"]},
        },
        weighting="softmax",
    )
    weights = loss.current_weights()
    assert weights["focal"] == pytest.approx(0.75) and weights["boundary"] == pytest.approx(0.25)
    total, _ = loss(LOGITS, TARGET, MASK)
    torch.testing.assert_close(
        total, 0.75 * expected_parts["focal"] + 0.25 * expected_parts["boundary"]
    )
    params = dict(loss.named_parameters())
    assert set(params) == {"weight_logits"}
    total.backward()
    assert params["weight_logits"].grad is not None
    assert params["weight_logits"].grad.abs().sum() > 0


def test_uncertainty_weighting_formula_and_training():
    components = parts()
    expected_parts = values(components)
    loss = CompoundLoss(
        {
            name: {"weight": w, "loss": components[name]}
            for name, w in (("focal", 1.0), ("tversky", 0.5))
        },
        weighting="uncertainty",
    )
    s = {"focal": 0.0, "tversky": math.log(2.0)}
    total, _ = loss(LOGITS, TARGET, MASK)
    expected = sum(math.exp(-s[n]) * expected_parts[n] + s[n] for n in s)
    assert total.item() == pytest.approx(float(expected), rel=1e-5)
    assert loss.current_weights() == pytest.approx({"focal": 1.0, "tversky": 0.5})
    optimizer = torch.optim.SGD(loss.parameters(), lr=0.1)
    before = loss.log_variances.detach().clone()
    total.backward()
    optimizer.step()
    assert not torch.equal(before, loss.log_variances.detach())


def test_multi_term_components_are_prefixed():
    loss = CompoundLoss(
        {
            "ba": {"weight": 1.0, "loss": BoundaryAwareLoss()},
            "focal": {"weight": 0.5, "loss": FocalLoss()},
        }
    )
    _, logged = loss(LOGITS, TARGET, MASK)
    assert set(logged) == {"ba", "ba/ce", "ba/consistency", "ba/confidence", "focal"}
    assert not any(key.startswith("weight") for key in logged)


def test_list_form_and_plain_modules():
    loss = CompoundLoss(
        [
            {"loss": {"_target_": "lyricseg.losses.FocalLoss"}, "weight": 2.0},
            {"name": "dice", "loss": TverskyLoss(alpha=0.5, beta=0.5)},
        ]
    )
    assert loss.current_weights() == {"focal": 2.0, "dice": 1.0}
    bare = CompoundLoss(
        {"ce": CrossEntropyLoss(), "b": {"_target_": "lyricseg.losses.BoundaryLoss"}}
    )
    assert bare.current_weights() == {"ce": 1.0, "b": 1.0}


def test_dictconfig_components_are_instantiated():
    cfg = OmegaConf.create(
        {"focal": {"weight": 0.3, "loss": {"_target_": "lyricseg.losses.FocalLoss", "gamma": 1.0}}}
    )
    loss = CompoundLoss(cfg)
    assert isinstance(loss.components["focal"], FocalLoss)
    assert loss.components["focal"].gamma == 1.0


def test_set_weights_only_for_fixed():
    loss = CompoundLoss(
        {"a": {"weight": 1.0, "loss": FocalLoss()}, "b": {"weight": 1.0, "loss": BoundaryLoss()}}
    )
    loss.set_weights({"b": 0.2})
    assert loss.current_weights() == pytest.approx({"a": 1.0, "b": 0.2})
    assert loss.state_dict()["fixed_weights"].tolist() == pytest.approx([1.0, 0.2])
    with pytest.raises(LyricsegError):
        loss.set_weights({"c": 1.0})
    with pytest.raises(LyricsegError):
        loss.set_weights({"a": -1.0})
    learned = CompoundLoss({"a": FocalLoss()}, weighting="softmax")
    with pytest.raises(LyricsegError):
        learned.set_weights({"a": 1.0})


def test_class_counts_forwarded():
    loss = CompoundLoss(
        {
            "ce": {"weight": 1.0, "loss": CrossEntropyLoss(class_weights="balanced")},
            "ba": {"weight": 1.0, "loss": BoundaryAwareLoss(class_weights="effective")},
        }
    )
    loss.set_class_counts(torch.tensor([70, 30]))
    for component in loss.components.values():
        assert component.class_counts.tolist() == [70.0, 30.0]


@pytest.mark.parametrize(
    ("components", "weighting"),
    [
        ({}, "fixed"),
        ({"a": FocalLoss()}, "bogus"),
        ({"a": {"weight": 0.0, "loss": FocalLoss()}}, "softmax"),
        ({"a": {"weight": -1.0, "loss": FocalLoss()}}, "fixed"),
        ({"a.b": FocalLoss()}, "fixed"),
        ({"a": {"loss": FocalLoss(), "wieght": 1.0}}, "fixed"),
        ({"a": torch.nn.Linear(2, 2)}, "fixed"),
        ([FocalLoss(), FocalLoss()], "fixed"),
        ("focal", "fixed"),
    ],
)
def test_bad_components_rejected(components, weighting):
    with pytest.raises(LyricsegError):
        CompoundLoss(components, weighting=weighting)


def test_describe_lists_components():
    loss = CompoundLoss({"focal": {"weight": 0.5, "loss": FocalLoss()}, "b": BoundaryLoss()})
    text = loss.describe()
    assert text.startswith("compound(weighting=fixed")
    assert "focal: 0.5 x focal(" in text and "b: 1 x boundary(" in text
