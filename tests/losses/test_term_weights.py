"""SegmentationLoss.term_weights: the weighted sum of the logged components is the total."""

from __future__ import annotations

import pytest
import torch
from _loss_cases import ALL_CASES, CONFIG_NAMES, build, random_logits
from hydra.utils import instantiate
from omegaconf import OmegaConf

from lyricseg.losses import BoundaryAwareLoss, CompoundLoss, CrossEntropyLoss


def batch(seed: int):
    gen = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 2, (3, 9), generator=gen)
    target[:, 3:6] = 1 - target[:, 2:3]  # some runs, so boundary terms are not empty
    mask = torch.arange(9)[None] < torch.tensor([[9], [6], [4]])
    return random_logits((3, 9, 2), seed, scale=3.0), target, mask


def weighted_sum(loss, logits, target, mask):
    total, components = loss(logits, target, mask)
    weights = loss.term_weights()
    top_level = {k for k in components if "/" not in k}
    assert set(weights) == top_level
    assert all(isinstance(w, float) for w in weights.values())
    rebuilt = sum(w * components[k] for k, w in weights.items())
    return total, rebuilt


@pytest.mark.parametrize("name", CONFIG_NAMES)
@pytest.mark.parametrize("seed", range(3))
def test_weighted_components_equal_the_total_for_every_config(name, seed):
    loss = build(f"yaml:{name}")
    total, rebuilt = weighted_sum(loss, *batch(seed))
    torch.testing.assert_close(rebuilt, total, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c != "extra:compound_uncertainty"])
def test_weighted_components_equal_the_total_for_every_variant(case):
    total, rebuilt = weighted_sum(build(case), *batch(7))
    torch.testing.assert_close(rebuilt, total, rtol=1e-6, atol=1e-6)


def test_uncertainty_weighting_adds_only_its_regulariser():
    loss = build("extra:compound_uncertainty")
    total, rebuilt = weighted_sum(loss, *batch(1))
    torch.testing.assert_close(total, rebuilt + loss.log_variances.sum(), rtol=1e-6, atol=1e-6)


def test_weights_follow_the_parameters():
    assert CrossEntropyLoss().term_weights() == {"ce": 1.0}
    assert CrossEntropyLoss(entropy_lambda=0.2).term_weights() == {"ce": 1.0, "entropy": -0.2}
    separate = BoundaryAwareLoss(
        boundary_weight=3.0,
        use_boundary_as_primary=False,
        segment_consistency_lambda=0.0,
        conf_penalty_lambda=0.5,
        entropy_lambda=0.1,
    )
    assert separate.term_weights() == {
        "ce": 1.0,
        "boundary": 2.0,
        "confidence": 0.5,
        "entropy": -0.1,
    }
    assert separate.folded_terms() == set()
    folded = BoundaryAwareLoss(boundary_weight=3.0)
    assert "boundary" not in folded.term_weights()
    assert folded.folded_terms() == {"boundary"}
    assert BoundaryAwareLoss(boundary_weight=1.0).folded_terms() == set()


def test_compound_reports_current_weights_and_nested_folded_terms():
    cfg = OmegaConf.create(
        {
            "_target_": "lyricseg.losses.CompoundLoss",
            "components": {
                "ba": {"weight": 0.7, "loss": {"_target_": "lyricseg.losses.BoundaryAwareLoss"}},
                "focal": {"weight": 0.3, "loss": {"_target_": "lyricseg.losses.FocalLoss"}},
            },
        }
    )
    loss: CompoundLoss = instantiate(cfg)
    assert loss.term_weights() == pytest.approx({"ba": 0.7, "focal": 0.3})
    loss.set_weights({"focal": 2.0})
    assert loss.term_weights() == pytest.approx({"ba": 0.7, "focal": 2.0})
    assert loss.folded_terms() == {"ba/boundary"}
    total, rebuilt = weighted_sum(loss, *batch(4))
    torch.testing.assert_close(rebuilt, total, rtol=1e-6, atol=1e-6)
