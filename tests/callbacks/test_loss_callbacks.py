"""AdaptiveLossWeights and AntiCollapseMonitor with a fake trainer and module."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from lyricseg.losses import BoundaryLoss, CompoundLoss, CrossEntropyLoss, FocalLoss, TverskyLoss
from lyricseg.training.callbacks.adaptive_weights import AdaptiveLossWeights
from lyricseg.training.callbacks.anti_collapse import AntiCollapseMonitor
from lyricseg.utils import LyricsegError

CONF = Path(__file__).resolve().parents[2] / "conf" / "callbacks"


def fake_trainer(metrics=None, epoch=0, sanity=False):
    return SimpleNamespace(
        callback_metrics=dict(metrics or {}),
        current_epoch=epoch,
        sanity_checking=sanity,
        should_stop=False,
    )


class FakeModule:
    def __init__(self, criterion):
        self.criterion = criterion
        self.logged = {}

    def log(self, name, value, **kwargs):
        self.logged[name] = float(value)


def compound(weighting="fixed"):
    return CompoundLoss(
        {
            "focal": {"weight": 1.0, "loss": FocalLoss()},
            "tversky": {"weight": 0.5, "loss": TverskyLoss()},
            "boundary": {"weight": 0.5, "loss": BoundaryLoss()},
        },
        weighting=weighting,
    )


def test_configs_instantiate():
    for name, cls in (
        ("adaptive_weights", AdaptiveLossWeights),
        ("anti_collapse", AntiCollapseMonitor),
    ):
        cfg = OmegaConf.load(CONF / f"{name}.yaml")
        assert isinstance(instantiate(cfg[name]), cls)


# ---------------------------------------------------------------- adaptive weights


def test_uniform_keeps_total():
    module = FakeModule(compound())
    callback = AdaptiveLossWeights(strategy="uniform")
    callback.on_validation_end(fake_trainer(), module)
    weights = module.criterion.current_weights()
    assert weights == pytest.approx({"focal": 2 / 3, "tversky": 2 / 3, "boundary": 2 / 3})
    assert module.logged == {}  # the module logs its weights itself


def test_inverse_f1_favours_the_weak_metric():
    module = FakeModule(compound())
    callback = AdaptiveLossWeights(strategy="inverse_f1", eps=0.0)
    metrics = {"val/macro_f1": torch.tensor(0.8), "val/boundary_f1": torch.tensor(0.4)}
    callback.on_validation_end(fake_trainer(metrics), module)
    weights = module.criterion.current_weights()
    # Scores: initial weight / metric -> focal 1/0.8, tversky 0.5/0.8, boundary 0.5/0.4.
    raw = {"focal": 1.25, "tversky": 0.625, "boundary": 1.25}
    expected = {k: 2.0 * v / sum(raw.values()) for k, v in raw.items()}
    assert weights == pytest.approx(expected)
    assert callback.metric_for("boundary") == "val/boundary_f1"
    assert callback.metric_for("focal") == "val/macro_f1"


def test_inverse_f1_metric_map_and_momentum():
    module = FakeModule(compound())
    callback = AdaptiveLossWeights(
        strategy="inverse_f1",
        metric_map={"tversky": "val/chorus_f1"},
        momentum=0.5,
        eps=0.0,
    )
    metrics = {"val/macro_f1": 0.5, "val/boundary_f1": 0.5, "val/chorus_f1": 0.25}
    callback.on_validation_end(fake_trainer(metrics), module)
    raw = {"focal": 2.0, "tversky": 2.0, "boundary": 1.0}
    proposed = {k: 2.0 * v / 5.0 for k, v in raw.items()}
    initial = {"focal": 1.0, "tversky": 0.5, "boundary": 0.5}
    expected = {k: 0.5 * initial[k] + 0.5 * proposed[k] for k in raw}
    assert module.criterion.current_weights() == pytest.approx(expected)


def test_difficulty_starts_from_configured_weights_then_tracks_progress():
    module = FakeModule(compound())
    callback = AdaptiveLossWeights(strategy="difficulty")
    first = {"val/loss/focal": 0.4, "val/loss/tversky": 0.6, "val/loss/boundary": 0.2}
    callback.on_validation_end(fake_trainer(first, epoch=0), module)
    assert module.criterion.current_weights() == pytest.approx(
        {"focal": 1.0, "tversky": 0.5, "boundary": 0.5}
    )
    # Focal halved, Tversky stalled, boundary fell to a quarter.
    second = {"val/loss/focal": 0.2, "val/loss/tversky": 0.6, "val/loss/boundary": 0.05}
    callback.on_validation_end(fake_trainer(second, epoch=1), module)
    raw = {"focal": 0.5, "tversky": 0.5, "boundary": 0.125}
    expected = {k: 2.0 * v / sum(raw.values()) for k, v in raw.items()}
    assert module.criterion.current_weights() == pytest.approx(expected)
    state = callback.state_dict()
    restored = AdaptiveLossWeights(strategy="difficulty")
    restored.load_state_dict(state)
    assert restored._reference == callback._reference


def test_missing_metrics_leave_the_weights():
    module = FakeModule(compound())
    callback = AdaptiveLossWeights(strategy="inverse_f1", eps=0.0)
    callback.on_validation_end(fake_trainer({"val/macro_f1": 0.5}), module)
    assert module.criterion.current_weights() == {"focal": 1.0, "tversky": 0.5, "boundary": 0.5}
    metrics = {"val/macro_f1": 0.5, "val/boundary_f1": 0.2}
    callback.on_validation_end(fake_trainer(metrics, epoch=1), module)
    assert module.criterion.current_weights()["boundary"] == pytest.approx(2 * 2.5 / 5.5)
    assert module.logged == {}


def test_every_n_epochs_and_sanity_check():
    module = FakeModule(compound())
    callback = AdaptiveLossWeights(strategy="uniform", every_n_epochs=2)
    callback.on_validation_end(fake_trainer(epoch=0), module)
    assert module.criterion.current_weights()["focal"] == 1.0
    callback.on_validation_end(fake_trainer(epoch=1, sanity=True), module)
    assert module.criterion.current_weights()["focal"] == 1.0
    callback.on_validation_end(fake_trainer(epoch=1), module)
    assert module.criterion.current_weights()["focal"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("criterion", [CrossEntropyLoss(), compound("softmax")])
def test_warns_once_and_does_nothing_for_other_losses(criterion, caplog):
    module = FakeModule(criterion)
    callback = AdaptiveLossWeights(strategy="uniform")
    before = {k: v.clone() for k, v in criterion.state_dict().items()}
    with caplog.at_level(logging.WARNING):
        callback.on_validation_end(fake_trainer(epoch=0), module)
        callback.on_validation_end(fake_trainer(epoch=1), module)
    assert len([r for r in caplog.records if "AdaptiveLossWeights" in r.getMessage()]) == 1
    for key, value in criterion.state_dict().items():
        assert torch.equal(value, before[key])
    assert module.logged == {}


def test_min_weight_and_bad_arguments():
    module = FakeModule(compound())
    callback = AdaptiveLossWeights(strategy="inverse_f1", min_weight=0.3, eps=0.0)
    metrics = {"val/macro_f1": 0.01, "val/boundary_f1": 1.0}
    callback.on_validation_end(fake_trainer(metrics), module)
    assert module.criterion.current_weights()["boundary"] == pytest.approx(0.3)
    with pytest.raises(LyricsegError):
        AdaptiveLossWeights(strategy="magic")
    with pytest.raises(LyricsegError):
        AdaptiveLossWeights(every_n_epochs=0)


# ---------------------------------------------------------------- anti-collapse


def warnings_in(caplog):
    return [
        r for r in caplog.records if r.levelno == logging.WARNING and "collapse" in r.getMessage()
    ]


def test_in_bounds_is_quiet(caplog):
    monitor = AntiCollapseMonitor()
    trainer = fake_trainer({"val/pred_chorus_rate": 0.4, "val/conf_over_95": 0.1})
    with caplog.at_level(logging.WARNING):
        monitor.on_validation_end(trainer, None)
    assert not warnings_in(caplog) and not trainer.should_stop


@pytest.mark.parametrize(
    "metrics",
    [
        {"val/pred_chorus_rate": 0.01, "val/conf_over_95": 0.1},
        {"val/pred_chorus_rate": 0.95},
        {"val/conf_over_95": torch.tensor(0.9)},
        {"val/pred_chorus_rate": 0.0, "val/conf_over_95": 0.99},
    ],
)
def test_out_of_bounds_warns_once(metrics, caplog):
    monitor = AntiCollapseMonitor()
    trainer = fake_trainer(metrics)
    with caplog.at_level(logging.WARNING):
        monitor.on_validation_end(trainer, None)
    assert len(warnings_in(caplog)) == 1
    assert not trainer.should_stop


def test_stop_with_patience(caplog):
    monitor = AntiCollapseMonitor(stop=True, patience=2)
    trainer = fake_trainer({"val/pred_chorus_rate": 0.99}, epoch=0)
    monitor.on_validation_end(trainer, None)
    assert not trainer.should_stop
    trainer = fake_trainer({"val/pred_chorus_rate": 0.98}, epoch=1)
    monitor.on_validation_end(trainer, None)
    assert trainer.should_stop
    assert AntiCollapseMonitor(stop=True).state_dict() == {"violations": 0}
    restored = AntiCollapseMonitor()
    restored.load_state_dict(monitor.state_dict())
    assert restored.violations == 2


def test_stop_immediately_and_reset_on_recovery():
    monitor = AntiCollapseMonitor(stop=True, patience=2)
    monitor.on_validation_end(fake_trainer({"val/pred_chorus_rate": 0.99}, epoch=0), None)
    monitor.on_validation_end(fake_trainer({"val/pred_chorus_rate": 0.3}, epoch=1), None)
    trainer = fake_trainer({"val/pred_chorus_rate": 0.99}, epoch=2)
    monitor.on_validation_end(trainer, None)
    assert not trainer.should_stop
    eager = AntiCollapseMonitor(stop=True)
    trainer = fake_trainer({"val/pred_chorus_rate": 0.0}, epoch=0)
    eager.on_validation_end(trainer, None)
    assert trainer.should_stop


def test_absent_metrics_sanity_and_warmup_are_silent(caplog):
    with caplog.at_level(logging.WARNING):
        monitor = AntiCollapseMonitor(stop=True, warmup_epochs=2)
        for trainer in (
            fake_trainer({}),
            fake_trainer({"val/pred_chorus_rate": 0.0}, sanity=True),
            fake_trainer({"val/pred_chorus_rate": 0.0}, epoch=1),
        ):
            monitor.on_validation_end(trainer, None)
            assert not trainer.should_stop
    assert not warnings_in(caplog)
    with pytest.raises(LyricsegError):
        AntiCollapseMonitor(min_chorus_rate=0.9, max_chorus_rate=0.1)


# ---------------------------------------------------------------- in a real Trainer


class EpochMetricsModule(L.LightningModule):
    """Logs per-epoch validation metrics in its own on_validation_epoch_end, like the tagger."""

    def __init__(self, values, criterion=None):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.values = values  # epoch -> {metric: value}
        self.criterion = criterion
        self.weights_seen = []

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        return None

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            for key, value in self.values[self.current_epoch].items():
                self.log(key, value)

    def on_train_epoch_end(self):
        if self.criterion is not None:
            self.weights_seen.append(self.criterion.current_weights())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(module, callback, epochs):
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 1)))
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
        accelerator="cpu",
    )
    trainer.fit(module, train_dataloaders=data, val_dataloaders=data)
    return trainer


def test_weights_follow_each_epochs_own_metrics_in_a_trainer():
    values = {
        e: {"val/macro_f1": 0.5, "val/boundary_f1": f1} for e, f1 in enumerate([0.25, 0.5, 0.1])
    }
    module = EpochMetricsModule(values, compound())
    fit(module, AdaptiveLossWeights(strategy="inverse_f1", eps=0.0), epochs=3)
    for epoch, weights in enumerate(module.weights_seen):
        f1 = values[epoch]["val/boundary_f1"]
        raw = {"focal": 1.0 / 0.5, "tversky": 0.5 / 0.5, "boundary": 0.5 / f1}
        expected = {k: 2.0 * v / sum(raw.values()) for k, v in raw.items()}
        assert weights == pytest.approx(expected), epoch


def test_monitor_judges_each_epochs_own_metrics_in_a_trainer(caplog):
    values = {0: {"val/pred_chorus_rate": 0.3}, 1: {"val/pred_chorus_rate": 0.99}}
    values[2] = {"val/pred_chorus_rate": 0.3}
    with caplog.at_level(logging.WARNING):
        trainer = fit(EpochMetricsModule(values), AntiCollapseMonitor(stop=True), epochs=3)
    assert trainer.current_epoch == 2  # stopped after epoch 1, the first out of bounds
    messages = [r.getMessage() for r in warnings_in(caplog)]
    assert len(messages) == 1 and messages[0].startswith("epoch 1:")
