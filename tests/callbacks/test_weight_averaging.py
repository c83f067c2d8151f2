"""NetEMA: the averaged network is what validation scores, checkpoints store and resume restores."""

from __future__ import annotations

import json

import pytest
import torch
from hydra.utils import instantiate
from support import train_tiny

from lyricseg.checkpoint import NET_PREFIX, read_record
from lyricseg.training.callbacks.weight_averaging import STATE_KEY, NetEMA

EMA = ["callbacks=[default,ema]", "callbacks.ema.decay=0.8", "callbacks.validation_images=null"]


def _net(state: dict) -> dict:
    return {k[len(NET_PREFIX) :]: v for k, v in state.items() if k.startswith(NET_PREFIX)}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_ema_config_composes_beside_the_default_callbacks(make_cfg):
    cfg = make_cfg("experiment=lyrics_best", "callbacks=[default,ema]", "callbacks.ema.decay=0.95")
    assert {"model_checkpoint", "early_stopping", "last_checkpoint", "ema"} <= set(cfg.callbacks)
    callback = instantiate(cfg.callbacks.ema)
    assert isinstance(callback, NetEMA) and callback.decay == 0.95
    assert "ema" not in make_cfg().callbacks  # off by default


def test_validation_checkpoints_and_model_file_hold_the_average(tmp_path):
    """One epoch: its validation, best-state.ckpt and the model file all see the average."""
    _, objects = train_tiny(
        tmp_path,
        *EMA,
        "trainer.max_epochs=1",
        "+callbacks.probe._target_=support.ValidationWeights",
    )
    probe = next(c for c in objects["trainer"].callbacks if type(c).__name__ == "ValidationWeights")
    validated = probe.seen[-1]  # the weights epoch 0's validation scored
    state = torch.load(tmp_path / "run/checkpoints/best-state.ckpt", weights_only=True)
    raw = _net(state[STATE_KEY]["raw"])
    assert _same(_net(state["state_dict"]), validated)
    assert not _same(raw, validated)  # the average is not the raw weights
    assert int(state[STATE_KEY]["n_averaged"]) == objects["trainer"].global_step
    _, weights = read_record(objects["best_path"])  # the calibrated model file
    assert _same(weights, validated)
    assert _same(objects["model"].net.state_dict(), validated)  # what calibration scored


def test_resume_restores_the_average_and_the_raw_weights(tmp_path):
    """A crash after 2 epochs and a resume from last.ckpt end like an uninterrupted run."""
    args = [*EMA, "trainer.max_epochs=4", "callbacks.early_stopping.patience=10", "seed=3"]
    args += ["calibration=none"]
    train_tiny(tmp_path / "whole", *args)
    crashed = tmp_path / "crashed"
    crash = ["+callbacks.crash._target_=support.RaiseAtEpoch", "+callbacks.crash.epoch=2"]
    with pytest.raises(RuntimeError, match="crash at epoch 2"):
        train_tiny(crashed, *args, *crash)
    last = crashed / "run/checkpoints/last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1
    train_tiny(crashed, *args, f"ckpt_path={last}")

    a = torch.load(tmp_path / "whole/run/checkpoints/last.ckpt", weights_only=True)
    b = torch.load(last, weights_only=True)
    assert a["epoch"] == b["epoch"] == 3
    for key in a["state_dict"]:  # the averaged network (and the module's metric states)
        assert torch.allclose(a["state_dict"][key], b["state_dict"][key], atol=1e-6), key
    for key, value in a[STATE_KEY]["raw"].items():
        assert torch.allclose(value, b[STATE_KEY]["raw"][key], atol=1e-6), key
    assert int(a[STATE_KEY]["n_averaged"]) == int(b[STATE_KEY]["n_averaged"])
    runs = (tmp_path / "whole", crashed)
    summaries = [json.loads((d / "run/summary.json").read_text()) for d in runs]
    assert summaries[0]["best_score"] == pytest.approx(summaries[1]["best_score"], abs=1e-6)
