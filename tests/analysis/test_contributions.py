"""Contributions weigh each logged component by the weight its loss reports."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from lyricseg.analysis import contributions, loss_terms
from lyricseg.analysis.contributions import build_loss, contribution_history
from lyricseg.analysis.runs import RunData

LOSS_DIR = Path(__file__).resolve().parents[2] / "conf" / "loss"
CONFIGS = sorted(p.stem for p in LOSS_DIR.glob("*.yaml"))


def logged_run(loss_cfg, epochs=2, seed=0):
    """A run as train.py logs it: the loss config and, per epoch, its total and components."""
    loss = instantiate(loss_cfg)
    history: dict[str, dict[int, float]] = {}
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        logits = torch.randn(2, 7, 2, generator=gen) * 3
        target = torch.tensor([[0, 0, 1, 1, 1, 0, 0], [1, 1, 0, 0, 1, 1, 1]])
        mask = torch.arange(7)[None] < torch.tensor([[7], [5]])
        total, parts = loss(logits, target, mask)
        history.setdefault("train/loss", {})[epoch] = total.item()
        history.setdefault("val/boundary_f1", {})[epoch] = 0.5
        for name, value in parts.items():
            history.setdefault(f"train/loss/{name}", {})[epoch] = value.item()
    config = OmegaConf.create({"loss": OmegaConf.to_container(loss_cfg)})
    return RunData(path=Path("run"), name="run", config=config, history=history)


@pytest.mark.parametrize("name", CONFIGS)
def test_contributions_sum_to_the_logged_total_for_every_loss_config(name):
    with initialize_config_dir(str(LOSS_DIR.parent), version_base="1.3"):
        cfg = compose(overrides=[f"+loss={name}"]).loss
    run = logged_run(cfg)
    terms = loss_terms(run)
    assert terms.weights_known
    assert terms.loss_name == type(instantiate(cfg)).__name__
    for epoch in (0, 1):
        parts = contributions(run, epoch=epoch)
        assert parts, name
        assert sum(parts.values()) == pytest.approx(run.history["train/loss"][epoch], abs=1e-5)
    history = contribution_history(run)
    for epoch in (0, 1):
        total = sum(values[epoch] for _, values in history.values())
        assert total == pytest.approx(run.history["train/loss"][epoch], abs=1e-5)


def test_separate_boundary_and_entropy_weights():
    cfg = OmegaConf.create(
        {
            "_target_": "lyricseg.losses.BoundaryAwareLoss",
            "use_boundary_as_primary": False,
            "boundary_weight": 3.0,
            "entropy_lambda": 0.1,
        }
    )
    run = logged_run(cfg)
    terms = loss_terms(run)
    assert terms.weights == pytest.approx(
        {"ce": 1.0, "boundary": 2.0, "consistency": 0.03, "confidence": 0.005, "entropy": -0.1}
    )
    assert not terms.boundary_folded
    assert sum(contributions(run).values()) == pytest.approx(run.final("train/loss"), abs=1e-5)
    folded = logged_run(OmegaConf.create({"_target_": "lyricseg.losses.BoundaryAwareLoss"}))
    assert loss_terms(folded).boundary_folded


def test_logged_compound_weights_take_precedence():
    cfg = OmegaConf.create(
        {
            "_target_": "lyricseg.losses.CompoundLoss",
            "weighting": "softmax",
            "components": {
                "ce": {"weight": 1.0, "loss": {"_target_": "lyricseg.losses.CrossEntropyLoss"}},
                "boundary": {"weight": 1.0, "loss": {"_target_": "lyricseg.losses.BoundaryLoss"}},
            },
        }
    )
    run = logged_run(cfg)
    # learned weights: unknown until logged
    assert not loss_terms(run).weights_known
    run.history["train/loss_weight/ce"] = {0: 0.5, 1: 0.8}
    run.history["train/loss_weight/boundary"] = {0: 0.5, 1: 0.2}
    terms = loss_terms(run)
    assert terms.weights_known and terms.weights == {"ce": 0.8, "boundary": 0.2}
    assert loss_terms(run, epoch=0).weights == {"ce": 0.5, "boundary": 0.5}
    parts = contributions(run)
    assert parts["ce"] == pytest.approx(0.8 * run.final("train/loss/ce"))


@pytest.mark.parametrize(
    "loss",
    [
        {"_target_": "builtins.exec", "_args_": ["raise SystemExit(9)"]},
        {
            "_target_": "lyricseg.losses.CompoundLoss",
            "components": {"x": {"weight": 1.0, "loss": {"_target_": "os.system"}}},
        },
        {"_target_": "lyricseg.losses.base.masked_mean"},
    ],
)
def test_foreign_targets_are_never_built(loss, caplog):
    config = OmegaConf.create({"loss": loss})
    run = RunData(
        path=Path("run"),
        name="run",
        config=config,
        history={"train/loss/ce": {0: 0.4}, "val/boundary_f1": {0: 0.5}},
    )
    assert build_loss(run) is None
    assert "not a lyricseg loss" in caplog.text
    terms = loss_terms(run)
    assert terms.loss_name == "unknown" and not terms.weights_known
    assert contributions(run) == {"ce": 0.4}


def test_a_resolver_in_a_run_config_is_never_called(caplog):
    """A run folder is data: ``${resolver:...}`` in its loss is refused, not run; plain
    references to other keys still work."""
    calls = []
    OmegaConf.register_new_resolver("lyricseg_test_probe", lambda x: calls.append(x) or 0.5)
    try:
        history = {"train/loss/ce": {0: 0.4}, "val/boundary_f1": {0: 0.5}}
        target = "lyricseg.losses.BoundaryAwareLoss"
        for weight, built in (("${lyricseg_test_probe:1}", False), ("${w}", True)):
            config = OmegaConf.create(
                {"w": 2.0, "loss": {"_target_": target, "boundary_weight": weight}}
            )
            run = RunData(path=Path("run"), name="run", config=config, history=history)
            loss = build_loss(run)
            assert (loss is not None) == built
        assert loss.boundary_weight == 2.0
        assert calls == [] and "not a reference to another key" in caplog.text
    finally:
        OmegaConf.clear_resolver("lyricseg_test_probe")


def test_run_without_config_has_unknown_weights():
    run = RunData(path=Path("run"), name="run", history={"train/loss/focal": {0: 0.3}})
    assert build_loss(run) is None
    assert contributions(run) == {"focal": 0.3}
    assert not loss_terms(run).weights_known
