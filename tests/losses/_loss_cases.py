"""Shared cases for the loss tests: every conf/loss/*.yaml plus extra variants."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch
from hydra.utils import instantiate
from hypothesis import strategies as st
from omegaconf import OmegaConf

from lyricseg.losses import SegmentationLoss

LOSS_CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "loss"
CONFIG_NAMES = sorted(path.stem for path in LOSS_CONF_DIR.glob("*.yaml"))

# Variants that the yaml files do not cover, to exercise every option.
EXTRA_VARIANTS: dict[str, dict] = {
    "ce_balanced_entropy": {
        "_target_": "lyricseg.losses.CrossEntropyLoss",
        "label_smoothing": 0.1,
        "class_weights": "balanced",
        "max_class_weight": 5.0,
        "entropy_lambda": 0.05,
    },
    "ce_effective": {
        "_target_": "lyricseg.losses.CrossEntropyLoss",
        "class_weights": "effective",
        "beta": 0.99,
    },
    "boundary_aware_separate": {
        "_target_": "lyricseg.losses.BoundaryAwareLoss",
        "use_boundary_as_primary": False,
        "boundary_window": 1,
        "include_previous_line": False,
        "entropy_lambda": 0.01,
        "class_weights": [1.0, 2.0],
    },
    "focal_alpha_smooth": {
        "_target_": "lyricseg.losses.FocalLoss",
        "alpha": 0.75,
        "gamma": 0.5,
        "label_smoothing": 0.1,
    },
    "tversky_both_batch": {
        "_target_": "lyricseg.losses.TverskyLoss",
        "classes": "both",
        "reduction_scope": "batch",
        "smooth": 0.5,
    },
    "compound_softmax": {
        "_target_": "lyricseg.losses.CompoundLoss",
        "weighting": "softmax",
        "components": {
            "ce": {"weight": 2.0, "loss": {"_target_": "lyricseg.losses.CrossEntropyLoss"}},
            "boundary": {"weight": 1.0, "loss": {"_target_": "lyricseg.losses.BoundaryLoss"}},
        },
    },
    "compound_uncertainty": {
        "_target_": "lyricseg.losses.CompoundLoss",
        "weighting": "uncertainty",
        "_recursive_": False,
        "components": {
            "ba": {"weight": 1.0, "loss": {"_target_": "lyricseg.losses.BoundaryAwareLoss"}},
            "tversky": {"weight": 0.5, "loss": {"_target_": "lyricseg.losses.TverskyLoss"}},
        },
    },
}

ALL_CASES = [f"yaml:{name}" for name in CONFIG_NAMES] + [f"extra:{name}" for name in EXTRA_VARIANTS]


def load_config(name: str):
    """The resolved config of ``conf/loss/<name>.yaml``, composed by Hydra (presets extend
    ``boundary_aware`` through their defaults list)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(LOSS_CONF_DIR.parent), version_base="1.3"):
        cfg = compose(overrides=[f"+loss={name}"])
    return OmegaConf.create(OmegaConf.to_container(cfg.loss, resolve=True))


@cache
def build(case: str) -> SegmentationLoss:
    """Instantiate a case (``yaml:<name>`` or ``extra:<name>``) once per test session."""
    kind, name = case.split(":", 1)
    cfg = load_config(name) if kind == "yaml" else OmegaConf.create(EXTRA_VARIANTS[name])
    loss = instantiate(cfg)
    assert isinstance(loss, SegmentationLoss)
    return loss


def run(loss: SegmentationLoss, logits: torch.Tensor, target, mask):
    """Loss value and gradient with respect to ``logits``."""
    logits = logits.detach().clone().requires_grad_(True)
    total, components = loss(logits, target, mask)
    (grad,) = torch.autograd.grad(total, logits)
    return total.detach(), components, grad


@st.composite
def batches(draw, max_batch: int = 3, max_len: int = 9, min_len: int = 0):
    """``(target [B, T], mask [B, T], seed)`` with prefix masks and run-structured labels."""
    batch = draw(st.integers(1, max_batch))
    length = draw(st.integers(1, max_len))
    rows = []
    for _ in range(batch):
        # Labels as runs (like verse/chorus sections), sometimes a single run.
        first = draw(st.integers(0, 1))
        switches = draw(st.lists(st.booleans(), min_size=length, max_size=length))
        label, row = first, []
        for switch in switches:
            if switch and draw(st.integers(0, 2)) == 0:
                label = 1 - label
            row.append(label)
        rows.append(row)
    lengths = draw(
        st.lists(st.integers(min(min_len, length), length), min_size=batch, max_size=batch)
    )
    seed = draw(st.integers(0, 2**16))
    target = torch.tensor(rows, dtype=torch.long)
    mask = torch.arange(length).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return target, mask, seed


def random_logits(shape, seed: int, scale: float = 1.0) -> torch.Tensor:
    """Reproducible normal logits times ``scale``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator) * scale
