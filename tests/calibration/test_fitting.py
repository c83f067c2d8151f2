import functools
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torchmetrics.functional.classification import multiclass_calibration_error

from lyricseg.calibration import AutoCalibrator, TemperatureScaler, fit_calibration
from lyricseg.utils import LyricsegError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
SCORES = {"ece", "mce", "conf_over_95"}


def overconfident_songs(n_songs, seed=0, scale=3.0):
    """Songs whose logit margin is `scale` times the true log-odds: over-confident."""
    gen = torch.Generator().manual_seed(seed)
    songs = []
    for _ in range(n_songs):
        n = int(torch.randint(4, 40, (1,), generator=gen))
        logodds = torch.randn(n, generator=gen) * 2.0
        labels = (torch.rand(n, generator=gen) < torch.sigmoid(logodds)).long()
        margin = logodds * scale
        logits = torch.stack([-margin / 2, margin / 2], dim=-1)
        songs.append({"logits": logits, "labels": labels, "preds": logits.argmax(-1)})
    return songs


def reference_ece(songs, probs):
    """Top-label ECE over all lines, 15 bins, by torchmetrics."""
    p = torch.cat(probs).float()
    labels = torch.cat([s["labels"] for s in songs])
    two = torch.stack([1 - p, p], -1)
    return multiclass_calibration_error(two, labels, num_classes=2, n_bins=15).item()


class RecordingScaler(TemperatureScaler):
    """Temperature scaling that records which lines (by logit row) and groups it saw."""

    fits: list = []

    def fit(self, logits, labels, groups=None):
        RecordingScaler.fits.append((logits.clone(), None if groups is None else groups.clone()))
        return super().fit(logits, labels, groups)


def test_report_of_an_overconfident_model():
    songs = overconfident_songs(80)
    calibrator, report = fit_calibration(TemperatureScaler, songs)
    assert set(report) == {
        "method",
        "fitted_on",
        "n_lines",
        "before",
        "after",
        "after_cross_fitted",
    }
    assert report["method"] == "temperature"
    assert report["fitted_on"] == "val"
    assert report["n_lines"] == sum(len(s["labels"]) for s in songs)
    for key in ("before", "after", "after_cross_fitted"):
        assert set(report[key]) == SCORES
        assert all(isinstance(v, float) for v in report[key].values())
    # the calibrator is the one fitted on every line
    everything = TemperatureScaler().fit(
        torch.cat([s["logits"] for s in songs]), torch.cat([s["labels"] for s in songs])
    )
    assert calibrator.temperature.item() == pytest.approx(everything.temperature.item())
    assert calibrator.temperature.item() > 2.0
    # scores agree with an independent ECE
    raw = [s["logits"].softmax(-1)[:, 1] for s in songs]
    assert report["before"]["ece"] == pytest.approx(reference_ece(songs, raw), abs=1e-6)
    with torch.no_grad():
        after = [calibrator(s["logits"]) for s in songs]
    assert report["after"]["ece"] == pytest.approx(reference_ece(songs, after), abs=1e-6)
    # calibration helps, in-sample and on held-out songs
    assert report["after"]["ece"] < report["before"]["ece"] / 2
    assert report["after_cross_fitted"]["ece"] < report["before"]["ece"] / 2
    assert report["after"]["conf_over_95"] < report["before"]["conf_over_95"]


def test_cross_fitting_splits_by_song():
    songs = overconfident_songs(7, seed=3)
    RecordingScaler.fits.clear()
    _, report = fit_calibration(RecordingScaler, songs)
    assert len(RecordingScaler.fits) == 3
    (all_logits, all_groups), (even_logits, even_groups), (odd_logits, odd_groups) = (
        RecordingScaler.fits
    )
    # the final fit sees every line, each tagged with its song's position
    torch.testing.assert_close(all_logits, torch.cat([s["logits"] for s in songs]))
    expected = torch.cat([torch.full((len(s["labels"]),), i) for i, s in enumerate(songs)])
    assert all_groups.tolist() == expected.tolist()
    # the two cross fits see whole songs: the even ones, then the odd ones
    torch.testing.assert_close(even_logits, torch.cat([s["logits"] for s in songs[0::2]]))
    torch.testing.assert_close(odd_logits, torch.cat([s["logits"] for s in songs[1::2]]))
    assert set(even_groups.tolist()) == set(range(4))
    assert set(odd_groups.tolist()) == set(range(3))
    # each half is calibrated by the fit on the other half
    on_even = TemperatureScaler().fit(even_logits, torch.cat([s["labels"] for s in songs[0::2]]))
    on_odd = TemperatureScaler().fit(odd_logits, torch.cat([s["labels"] for s in songs[1::2]]))
    with torch.no_grad():
        crossed = [(on_odd if i % 2 == 0 else on_even)(s["logits"]) for i, s in enumerate(songs)]
    assert report["after_cross_fitted"]["ece"] == pytest.approx(
        reference_ece(songs, crossed), abs=1e-6
    )


def test_single_song_has_no_cross_fitted_figure():
    songs = overconfident_songs(1, seed=5)
    calibrator, report = fit_calibration(TemperatureScaler, songs)
    assert report["after_cross_fitted"] is None
    assert report["n_lines"] == len(songs[0]["labels"])
    assert set(report["after"]) == SCORES
    assert isinstance(calibrator, TemperatureScaler)


def test_bad_input_is_a_clear_error():
    with pytest.raises(LyricsegError, match="zero songs"):
        fit_calibration(TemperatureScaler, [])
    songs = overconfident_songs(2)
    songs[1]["labels"] = songs[1]["labels"].clone()
    songs[1]["labels"][0] = -1
    with pytest.raises(LyricsegError, match="0 \\(verse\\) or 1 \\(chorus\\)"):
        fit_calibration(TemperatureScaler, songs)


def test_hydra_partial_of_auto_gets_songs_as_groups(monkeypatch):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(overrides=["+calibration=auto"]).calibration
    factory = instantiate(cfg, _partial_=True)
    assert isinstance(factory, functools.partial)
    seen = []
    original = AutoCalibrator.fit

    def spy(self, logits, labels, groups=None):
        seen.append(groups)
        return original(self, logits, labels, groups)

    monkeypatch.setattr(AutoCalibrator, "fit", spy)
    songs = overconfident_songs(30, seed=2)
    calibrator, report = fit_calibration(factory, songs)
    assert isinstance(calibrator, AutoCalibrator)
    assert report["method"] == calibrator.chosen.name
    assert all(g is not None for g in seen) and len(seen) == 3
    assert seen[0].unique().tolist() == list(range(30))
