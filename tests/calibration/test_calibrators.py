import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from torchmetrics.functional.classification import multiclass_calibration_error

from lyricseg.calibration import (
    AutoCalibrator,
    IsotonicCalibrator,
    PlattScaler,
    TemperatureScaler,
    apply_calibration,
    calibrator_from_dict,
    reliability_data,
)
from lyricseg.utils import LyricsegError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "calibration"
#: Every calibrator with fitted state, in the order of conf/calibration/auto.yaml.
FITTED = (TemperatureScaler, PlattScaler, IsotonicCalibrator)


def synthetic(n=3000, scale=1.0, shift=0.0, seed=0):
    """Logits whose margin is `scale` times the true log-odds (`shift` moves the prior)."""
    gen = torch.Generator().manual_seed(seed)
    true_logodds = torch.randn(n, generator=gen) * 2.0
    labels = (torch.rand(n, generator=gen) < torch.sigmoid(true_logodds + shift)).long()
    margin = true_logodds * scale
    logits = torch.stack([-margin / 2, margin / 2], dim=-1)
    return logits, labels


def nll(probs, labels):
    p = probs.double().clamp(1e-12, 1 - 1e-12)
    return -(labels * p.log() + (1 - labels) * (1 - p).log()).mean().item()


def test_temperature_recovers_overconfidence():
    logits, labels = synthetic(scale=3.0)
    scaler = TemperatureScaler().fit(logits, labels)
    assert scaler.temperature.item() == pytest.approx(3.0, rel=0.15)
    # the fitted T is the NLL minimum on a fine grid
    margin = logits[:, 1] - logits[:, 0]
    grid = torch.linspace(0.5, 8.0, 1501, dtype=torch.float64)
    scaled = margin.double().unsqueeze(0) / grid.unsqueeze(1)  # [grid, N]
    losses = torch.nn.functional.softplus(scaled) - labels.double() * scaled  # BCE with logits
    best = grid[losses.mean(1).argmin()].item()
    assert scaler.temperature.item() == pytest.approx(best, abs=0.01)


def test_temperature_stays_in_bounds_on_separable_data():
    margin = torch.tensor([-2.0, -1.0, 1.0, 2.0])
    logits = torch.stack([torch.zeros(4), margin], -1)
    scaler = TemperatureScaler(min_temperature=0.1).fit(logits, torch.tensor([0, 0, 1, 1]))
    assert scaler.temperature.item() == pytest.approx(0.1, rel=1e-3)


def test_platt_matches_sklearn_logistic_regression():
    logits, labels = synthetic(n=5000, scale=2.0, shift=0.7)
    platt = PlattScaler(smooth_targets=False).fit(logits, labels)
    margin = (logits[:, 1] - logits[:, 0]).numpy().reshape(-1, 1)
    ref = LogisticRegression(C=1e8, tol=1e-10, max_iter=1000).fit(margin, labels.numpy())
    assert platt.a.item() == pytest.approx(ref.coef_[0, 0], abs=1e-3)
    assert platt.b.item() == pytest.approx(ref.intercept_[0], abs=1e-3)
    smoothed = PlattScaler().fit(logits, labels)
    assert smoothed.a.item() == pytest.approx(platt.a.item(), abs=0.01)


def test_platt_finite_on_separable_data():
    logits = torch.tensor([[0.0, -3.0], [0.0, -1.0], [0.0, 1.0], [0.0, 3.0]])
    platt = PlattScaler().fit(logits, torch.tensor([0, 0, 1, 1]))
    assert math.isfinite(platt.a.item()) and math.isfinite(platt.b.item())


def test_isotonic_matches_sklearn_predictions():
    logits, labels = synthetic(n=2000, scale=1.5, seed=3)
    iso = IsotonicCalibrator().fit(logits, labels)
    probs = torch.sigmoid((logits[:, 1] - logits[:, 0]).double()).numpy()
    ref = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(probs, labels.numpy())
    queries, _ = synthetic(n=500, scale=2.5, seed=4)
    q_probs = torch.sigmoid((queries[:, 1] - queries[:, 0]).double()).numpy()
    expected = ref.predict(q_probs)
    got = iso(queries.double()).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-9)
    # extrapolation clips to the end values
    extreme = torch.tensor([[0.0, -50.0], [0.0, 50.0]], dtype=torch.float64)
    np.testing.assert_allclose(iso(extreme).numpy(), ref.predict([0.0, 1.0]), atol=1e-9)


def test_calibration_lowers_ece_on_held_out_data():
    fit_logits, fit_labels = synthetic(n=4000, scale=3.0, seed=1)
    test_logits, test_labels = synthetic(n=4000, scale=3.0, seed=2)

    def ece(probs):
        two = torch.stack([1 - probs, probs], -1).float()
        return multiclass_calibration_error(two, test_labels, num_classes=2, n_bins=15).item()

    raw = ece(torch.sigmoid(test_logits[:, 1] - test_logits[:, 0]))
    for cal in (TemperatureScaler(), PlattScaler(), IsotonicCalibrator(), AutoCalibrator(FITTED)):
        cal.fit(fit_logits, fit_labels)
        assert ece(cal(test_logits)) < raw / 2, cal


def test_round_trip_through_dict_json_and_state_dict(tmp_path):
    logits, labels = synthetic(n=1000, scale=2.0, shift=0.5)
    batch_logits = logits[:60].view(3, 20, 2)
    for cal in (TemperatureScaler(), PlattScaler(), IsotonicCalibrator()):
        cal.fit(logits, labels)
        data = json.loads(json.dumps(cal.to_dict()))
        assert data["name"] == cal.name
        assert (
            data["_target_"]
            == f"lyricseg.calibration.{type(cal).__module__.split('.')[-1]}.{type(cal).__name__}"
        )
        # the dict is the class's config: _target_ and state build the fitted calibrator
        built = type(cal)(state=data["state"])
        torch.testing.assert_close(built(batch_logits), cal(batch_logits))
        restored = calibrator_from_dict(data)
        assert type(restored) is type(cal)
        out = restored(batch_logits)
        assert out.shape == (3, 20)
        torch.testing.assert_close(out, cal(batch_logits))
        # torch.save of a checkpoint-like dict and the module state_dict both work
        torch.save({"calibrator": cal.to_dict()}, tmp_path / "ckpt.pt")
        loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)["calibrator"]
        torch.testing.assert_close(calibrator_from_dict(loaded)(batch_logits), out)
        fresh = type(cal)()
        fresh.load_state_dict(cal.state_dict())
        torch.testing.assert_close(fresh(batch_logits), out)


def test_auto_selects_by_held_out_ece_and_serializes_as_winner():
    logits, labels = synthetic(n=3000, scale=2.5)
    auto = AutoCalibrator(FITTED).fit(logits, labels)
    assert set(auto.scores) == {"temperature", "platt", "isotonic"}
    assert auto.chosen.name == min(auto.scores, key=auto.scores.get)
    data = auto.to_dict()
    assert data["name"] == auto.chosen.name
    assert data["selection"]["method"] == "auto"
    restored = calibrator_from_dict(data)
    assert type(restored) is type(auto.chosen)
    torch.testing.assert_close(restored(logits), auto(logits))
    # a single candidate is always chosen; small data falls back to in-sample ECE
    small = AutoCalibrator(candidates=[PlattScaler]).fit(logits[:40], labels[:40])
    assert small.chosen.name == "platt"
    with pytest.raises(LyricsegError, match="fitted"):
        AutoCalibrator(FITTED)(logits)
    # candidates are calibrators or their classes, never names to look up
    for bad in (["histogram"], ["platt"], [AutoCalibrator], [torch.nn.Linear]):
        with pytest.raises(LyricsegError, match="must be a calibrator or a calibrator class"):
            AutoCalibrator(candidates=bad)
    with pytest.raises(LyricsegError, match="at least one candidate"):
        AutoCalibrator(candidates={"platt": None})


def test_decisions_stay_raw_argmax_even_when_platt_shifts_probabilities():
    # prior shift: the chorus is much more common than the logits admit -> b > 0
    logits, labels = synthetic(n=3000, scale=1.0, shift=1.5)
    platt = PlattScaler().fit(logits, labels)
    assert platt.b.item() > 0.5
    preds, probs = apply_calibration(logits, platt)
    assert torch.equal(preds, logits.argmax(-1))
    crossed = (probs > 0.5) != preds.bool()
    assert crossed.any(), "the offset should move some P(chorus) across 0.5"
    raw_preds, raw_probs = apply_calibration(logits, None)
    assert torch.equal(raw_preds, preds)
    torch.testing.assert_close(raw_probs, torch.softmax(logits, -1)[:, 1])


def test_input_validation():
    with pytest.raises(LyricsegError, match=r"\[\.\.\., 2\]"):
        TemperatureScaler()(torch.zeros(4, 3))
    with pytest.raises(LyricsegError, match="labels"):
        PlattScaler().fit(torch.zeros(4, 2), torch.tensor([0, 1, 2, 0]))
    with pytest.raises(LyricsegError, match="zero lines"):
        IsotonicCalibrator().fit(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(LyricsegError, match="not a lyricseg calibrator"):
        calibrator_from_dict({"_target_": "torch.nn.Linear", "state": {}})
    platt = "lyricseg.calibration.scalers.PlattScaler"
    for data, message in [
        # the key of checkpoint formats before 4 is upgraded by lyricseg.checkpoint only
        ({"target": platt, "state": {"a": 1.0, "b": 0.0}}, "None is not a lyricseg calibrator"),
        ({"_target_": "lyricseg.calibration.AutoCalibrator", "state": {}}, "not a lyricseg"),
        ({"_target_": platt}, "has no fitted 'state'"),
        ({"_target_": platt, "state": {"a": 1.0, "b": 0.0}, "_args_": [1]}, "_args_ is not"),
        ({"_target_": platt, "state": {"a": "${oc.env:HOME}", "b": 0.0}}, "interpolation"),
        ({"_target_": platt, "state": {"a": 1.0, "b": 0.0}, "max_iter": 3, "x": 1}, "cannot"),
    ]:
        with pytest.raises(LyricsegError, match=re.escape(message)):
            calibrator_from_dict(data)


def test_unfitted_calibrators_are_identity():
    logits = torch.randn(10, 2)
    expected = torch.softmax(logits, -1)[:, 1]
    for cal in (TemperatureScaler(), PlattScaler(), IsotonicCalibrator()):
        torch.testing.assert_close(cal(logits), expected)


def test_reliability_data():
    probs = torch.tensor([0.6, 0.4, 0.97, 1.0])
    labels = torch.tensor([1, 1, 1, 1])
    data = reliability_data(probs, labels, n_bins=10)
    assert data["counts"].tolist() == [0, 0, 0, 0, 0, 0, 2, 0, 0, 2]
    assert data["accuracies"][6] == pytest.approx(0.5)
    assert data["confidences"][9] == pytest.approx(0.985)
    assert np.isnan(data["accuracies"][0])
    assert data["bin_centers"][0] == pytest.approx(0.05)
    assert data["ece"] == pytest.approx((2 * 0.1 + 2 * 0.015) / 4, abs=1e-6)


@pytest.fixture
def conf_dir(tmp_path):
    shutil.copytree(CONF_DIR, tmp_path / "calibration")
    (tmp_path / "config.yaml").write_text("defaults:\n  - calibration: none\n  - _self_\n")
    return tmp_path


def test_hydra_configs(conf_dir):
    logits, labels = synthetic(n=300)
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        assert compose("config").calibration is None
        assert compose("config", overrides=["calibration=none"]).calibration is None
        for option, cls in [
            ("temperature", TemperatureScaler),
            ("platt", PlattScaler),
            ("isotonic", IsotonicCalibrator),
            ("auto", AutoCalibrator),
        ]:
            cfg = compose("config", overrides=[f"calibration={option}"])
            cal = instantiate(cfg.calibration)
            assert type(cal) is cls
            cal.fit(logits, labels)


def test_auto_composes_its_candidates_from_the_other_calibration_configs(conf_dir):
    """auto.yaml restates no calibrator: its candidates are the other files, composed."""
    raw = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "auto.yaml"))
    assert "candidates" not in raw
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        auto = compose("config", overrides=["calibration=auto"]).calibration
        for name in ("temperature", "platt", "isotonic"):
            alone = compose("config", overrides=[f"calibration={name}"]).calibration
            assert auto.candidates[name] == alone
        built = instantiate(auto)
        assert [type(c) for c in built.candidates] == list(FITTED)
        fewer = compose(
            "config",
            overrides=["calibration=auto", "calibration.candidates.isotonic=null"],
        )
        assert [type(c) for c in instantiate(fewer.calibration).candidates] == list(FITTED[:2])
