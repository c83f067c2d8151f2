"""conf/loss/*.yaml: each instantiates, directly and through Hydra composition."""

from __future__ import annotations

import pytest
import torch
from _loss_cases import CONFIG_NAMES, LOSS_CONF_DIR, load_config
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

import lyricseg.losses as losses
from lyricseg.losses import BoundaryAwareLoss, CompoundLoss, SegmentationLoss

PRESETS = {
    "boundary_aware_aggressive": {
        "boundary_weight": 3.0,
        "segment_consistency_lambda": 0.1,
        "conf_penalty_lambda": 0.02,
    },
    "boundary_aware_conservative": {
        "boundary_weight": 1.5,
        "segment_consistency_lambda": 0.02,
        "conf_penalty_lambda": 0.005,
    },
    "calibration_focus": {
        "label_smoothing": 0.25,
        "conf_penalty_lambda": 0.03,
        "conf_threshold": 0.85,
    },
}


#: What each preset composed to when it was a full copy of boundary_aware.yaml.
BOUNDARY_AWARE_DEFAULTS = {
    "_target_": "lyricseg.losses.BoundaryAwareLoss",
    "num_classes": 2,
    "label_smoothing": 0.15,
    "class_weights": None,
    "beta": 0.999,
    "max_class_weight": None,
    "entropy_lambda": 0.0,
    "boundary_weight": 2.0,
    "boundary_window": 0,
    "include_previous_line": True,
    "use_boundary_as_primary": True,
    "segment_consistency_lambda": 0.03,
    "conf_penalty_lambda": 0.005,
    "conf_threshold": 0.95,
}
COMPOSED_BEFORE = {
    "boundary_aware_aggressive": {
        **BOUNDARY_AWARE_DEFAULTS,
        "boundary_weight": 3.0,
        "segment_consistency_lambda": 0.1,
        "conf_penalty_lambda": 0.02,
    },
    "boundary_aware_conservative": {
        **BOUNDARY_AWARE_DEFAULTS,
        "boundary_weight": 1.5,
        "segment_consistency_lambda": 0.02,
        "conf_penalty_lambda": 0.005,
    },
    "calibration_focus": {
        **BOUNDARY_AWARE_DEFAULTS,
        "label_smoothing": 0.25,
        "conf_penalty_lambda": 0.03,
        "conf_threshold": 0.85,
    },
}


@pytest.mark.parametrize("name", sorted(COMPOSED_BEFORE))
def test_presets_compose_to_the_same_values_as_their_full_copies(name):
    assert OmegaConf.to_container(load_config(name)) == COMPOSED_BEFORE[name]
    with initialize_config_dir(str(LOSS_CONF_DIR.parent), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"loss={name}"])
    assert OmegaConf.to_container(cfg.loss, resolve=True) == COMPOSED_BEFORE[name]


@pytest.mark.parametrize("name", sorted(COMPOSED_BEFORE))
def test_presets_extend_boundary_aware_with_only_what_differs(name):
    raw = OmegaConf.to_container(OmegaConf.load(LOSS_CONF_DIR / f"{name}.yaml"))
    assert raw.pop("defaults") == ["boundary_aware", "_self_"]
    base = OmegaConf.to_container(load_config("boundary_aware"))
    assert raw == {k: v for k, v in COMPOSED_BEFORE[name].items() if base[k] != v}


def test_expected_configs_exist():
    expected = {"cross_entropy", "boundary_aware", "focal", "tversky", "boundary", "compound"}
    assert expected | set(PRESETS) <= set(CONFIG_NAMES)


def test_exports():
    for name in (
        "CrossEntropyLoss",
        "BoundaryAwareLoss",
        "FocalLoss",
        "TverskyLoss",
        "BoundaryLoss",
        "CompoundLoss",
        "SegmentationLoss",
    ):
        assert hasattr(losses, name)


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_config_targets_an_exported_loss(name):
    cfg = load_config(name)
    assert cfg._target_.startswith("lyricseg.losses.")
    assert isinstance(instantiate(cfg), SegmentationLoss)


def test_all_configs_compose_through_hydra():
    with initialize_config_dir(str(LOSS_CONF_DIR.parent), version_base="1.3"):
        for name in CONFIG_NAMES:
            cfg = compose(overrides=[f"+loss={name}"])
            loss = instantiate(cfg.loss)
            assert isinstance(loss, SegmentationLoss), name
            torch_logits = torch.zeros(1, 3, 2)
            total, _ = loss(torch_logits, torch.tensor([[0, 1, 1]]), torch.ones(1, 3, dtype=bool))
            assert torch.isfinite(total)
        # Overrides of nested compound entries reach the components.
        cfg = compose(
            overrides=[
                "+loss=compound",
                "loss.components.tversky.weight=2.0",
                "loss.components.focal.loss.gamma=1.0",
            ]
        )
        loss = instantiate(cfg.loss)
        assert loss.current_weights()["tversky"] == 2.0
        assert loss.components["focal"].gamma == 1.0
        cfg = compose(overrides=["+loss=compound", "loss.weighting=uncertainty"])
        assert instantiate(cfg.loss).weighting == "uncertainty"


def test_default_cross_entropy_is_plain():
    loss = instantiate(load_config("cross_entropy"))
    assert loss.label_smoothing == 0.0
    assert loss.weight_scheme is None and loss.explicit_weights is None
    assert loss.entropy_lambda == 0.0


def test_boundary_aware_defaults_match_class_defaults():
    from_yaml = instantiate(load_config("boundary_aware"))
    default = BoundaryAwareLoss()
    assert from_yaml.extra_repr_items() == default.extra_repr_items()
    assert default.label_smoothing == 0.15
    assert default.boundary_weight == 2.0
    assert default.segment_consistency_lambda == 0.03
    assert default.conf_penalty_lambda == 0.005
    assert default.conf_threshold == 0.95


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_boundary_aware_with_overrides(name):
    base = OmegaConf.to_container(load_config("boundary_aware"))
    preset = OmegaConf.to_container(load_config(name))
    assert preset.keys() == base.keys()
    changed = {key for key in base if base[key] != preset[key]}
    assert changed <= set(PRESETS[name])
    loss = instantiate(load_config(name))
    for key, value in PRESETS[name].items():
        assert getattr(loss, key) == value


def test_compound_config_structure():
    cfg = load_config("compound")
    assert cfg.weighting == "fixed"
    loss = instantiate(cfg)
    assert isinstance(loss, CompoundLoss)
    assert loss.current_weights() == {
        name: float(entry.weight) for name, entry in cfg.components.items()
    }
    # Without recursive instantiation CompoundLoss builds the components itself.
    flat = instantiate(cfg, _recursive_=False)
    assert flat.current_weights() == loss.current_weights()
    assert [type(m) for m in flat.components.values()] == [
        type(m) for m in loss.components.values()
    ]


def test_compound_composes_its_components_from_the_loss_configs():
    """compound.yaml restates no loss: each component's loss is its own file, composed."""
    raw = OmegaConf.to_container(OmegaConf.load(LOSS_CONF_DIR / "compound.yaml"))
    assert all(set(entry) == {"weight"} for entry in raw["components"].values())
    composed = OmegaConf.to_container(load_config("compound"))
    for name, entry in composed["components"].items():
        assert entry["loss"] == OmegaConf.to_container(load_config(name)), name
    # through train.yaml as `python train.py loss=compound ...` composes it
    with initialize_config_dir(str(LOSS_CONF_DIR.parent), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=["loss=compound", "loss.components.focal.loss.gamma=0.5"],
        )
    assert instantiate(cfg.loss).components["focal"].gamma == 0.5
    assert cfg.loss.components.tversky.loss == load_config("tversky")
